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
  /** `--mount` flags with values substituted and defaults applied. */
  mounts: RunMount[];
  /** `default`: the bridge with NAT to the outside; `none`: only a loopback interface. */
  network: 'default' | 'none';
  /**
   * A here-document that starts with `#!` runs as a script: it is mounted read-only at
   * `/dev/pipes/<name>` and the command runs that path, as BuildKit does.
   */
  scripts: { name: string; content: string }[];
}

/** Where a mount's files come from: the build context, an earlier stage, or an image. */
export type MountSource = CopySource;

/** A `RUN --mount` after substitution; targets are absolute. */
export type RunMount =
  | { type: 'bind'; target: string; from: MountSource; source: string; readOnly: boolean }
  | {
      type: 'cache';
      target: string;
      /** The cache's name within the app; the target by default. */
      id: string;
      sharing: 'shared' | 'private' | 'locked';
      /** Seeds an empty cache with `source` of a stage or image. */
      from?: MountSource;
      source: string;
      readOnly: boolean;
      /** Mode and owner of the cache folder when it is created. */
      mode: number;
      uid: number;
      gid: number;
    }
  | { type: 'tmpfs'; target: string; sizeBytes?: number }
  | {
      type: 'secret';
      id: string;
      /** The file the secret is mounted as; absent when it goes only into `env`. */
      target?: string;
      /** The environment variable that receives the secret's value. */
      env?: string;
      /** Fail when the build has no secret of this id; otherwise the mount is left out. */
      required: boolean;
      mode: number;
      uid: number;
      gid: number;
    };

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
  /** Here-document sources with variables substituted: files to write under their names. */
  inlineFiles: { name: string; content: string }[];
  chown?: string;
  /** `--chmod`: an octal mode, or a symbolic one applied to each file's own mode. */
  chmod?: FileModeChange;
  link: boolean;
  /** `--exclude` patterns, substituted. */
  exclude: string[];
  parents: boolean;
  /** ADD `--checksum`, substituted. */
  checksum?: string;
  keepGitDir: boolean;
  /** ADD `--unpack`; absent means the default: local archives yes, remote ones no. */
  unpack?: boolean;
}

/** A `--chmod` value: an octal mode for every file, or a chmod(1) symbolic expression such as `u=rwX,go=rX`. */
export type FileModeChange = { kind: 'octal'; mode: number } | { kind: 'symbolic'; expression: string };

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
