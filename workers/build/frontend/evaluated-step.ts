import type { ImageRunConfig } from '../../../shared/oci/image-types.ts';
import type { CopySource } from './instruction-types.ts';

/**
 * The image config a stage builds up. It is the OCI `config` object plus
 * `Healthcheck.StartInterval`, which docker writes since Engine 25 and
 * shared/oci/image-types.ts does not list yet. Durations are in nanoseconds.
 */
export interface StageConfig extends Omit<ImageRunConfig, 'Healthcheck'> {
  Healthcheck?: NonNullable<ImageRunConfig['Healthcheck']> & { StartInterval?: number };
}

interface StepBase {
  line: number;
  /** The instruction as written, for the build log. */
  text: string;
  /** The instruction with its words substituted, for the image history's `created_by`. */
  createdBy: string;
}

/** A command to run in a container of the stage's current filesystem. */
export interface RunStep extends StepBase {
  keyword: 'RUN';
  /** The process arguments: exec form as written, shell form wrapped in the stage's SHELL. */
  args: string[];
  /**
   * The environment: the image's Env, then each ARG in scope that has a value and that
   * no Env entry overrides. ARG values reach RUN but not the image config.
   */
  env: string[];
  /**
   * Proxy variables given as build args without an ARG (HTTP_PROXY and the like). They
   * belong in the command's environment but not in the cache key, as the reference says.
   */
  proxyEnv: string[];
  /** USER in effect, as written (`app`, `1000:1000`); empty means root. */
  user: string;
  /** Absolute working directory. */
  workdir: string;
}

export interface CopyStep extends StepBase {
  keyword: 'COPY' | 'ADD';
  /** Source paths with variables substituted, relative to the source's root. */
  sources: string[];
  /**
   * Absolute destination. A trailing `/` is kept because it is significant: it makes the
   * destination a directory.
   */
  destination: string;
  source: CopySource;
  chown?: string;
  /** File mode from `--chmod`, as a number (0o755). */
  chmod?: number;
  link: boolean;
}

/** WORKDIR changes the config and creates the folder, owned by the USER in effect, when it is missing. */
export interface WorkdirStep extends StepBase {
  keyword: 'WORKDIR';
  path: string;
  user: string;
}

/** Instructions that only change the image config (or, for ARG, the variables in scope). */
export interface ConfigStep extends StepBase {
  keyword:
    | 'ARG' | 'CMD' | 'ENTRYPOINT' | 'ENV' | 'EXPOSE' | 'HEALTHCHECK' | 'LABEL'
    | 'MAINTAINER' | 'ONBUILD' | 'SHELL' | 'STOPSIGNAL' | 'USER' | 'VOLUME';
}

export type EvaluatedStep = RunStep | CopyStep | WorkdirStep | ConfigStep;

/** The result of feeding one instruction to a StageEvaluator. */
export interface StepResult {
  step: EvaluatedStep;
  /** The whole image config after the step. */
  config: StageConfig;
  /** The image's author after the step (set by MAINTAINER). */
  author?: string;
}
