import type { ImageReference } from '../../../shared/oci/image-reference.ts';
import type { ResolvedArg } from './build-args.ts';
import type { StageInstruction } from './instruction-types.ts';

/** What a stage starts from. */
export type StageBase =
  | { kind: 'image'; reference: string; image: ImageReference }
  | { kind: 'stage'; index: number }
  | { kind: 'scratch' };

export interface PlannedStage {
  /** Position of the stage in the Dockerfile, from 0; `COPY --from=<index>` counts the same way. */
  index: number;
  /** The name after `AS`, lowercased. */
  name?: string;
  /** 1-based line of the stage's FROM. */
  line: number;
  /** The FROM line as written, for the build log. */
  text: string;
  /** The base with global ARGs substituted. */
  base: StageBase;
  /** `--platform` after substitution; always linux/amd64 when given. */
  platform?: string;
  instructions: StageInstruction[];
  /** Stages this one needs first: its base stage and the stages it copies from, ascending. */
  dependsOn: number[];
}

export interface BuildWarning {
  message: string;
  line?: number;
}

/**
 * A parsed Dockerfile, ready for a builder: the stages in order, the stage to build and
 * the stages it needs. Words are still raw; a StageEvaluator substitutes them per stage.
 * The plan is plain data, so it can be serialised and logged.
 */
export interface BuildPlan {
  escapeCharacter: '\\' | '`';
  /** The `# syntax=` directive when present; it is recorded, not followed. */
  syntax?: string;
  /** The `--build-arg` values the plan was made with. */
  buildArgs: Record<string, string>;
  /** ARGs declared before the first FROM, resolved with the build args. */
  globalArgs: ResolvedArg[];
  stages: PlannedStage[];
  /** Index of the stage to build: the `--target` stage, or the last stage. */
  target: number;
  /** Indices of the stages the target needs, itself included, ascending. */
  neededStages: number[];
  /** Build args that no ARG declares; the build goes on without them, as docker does. */
  unusedBuildArgs: string[];
  warnings: BuildWarning[];
}
