/**
 * The Dockerfile frontend: `parseDockerfile` turns a Dockerfile into a BuildPlan of raw
 * instructions, and a `StageEvaluator` per stage substitutes variables with build-time
 * values and tracks the image config, step by step.
 */
export { parseDockerfile, type ParseDockerfileOptions } from './parse-dockerfile.ts';
export type { BuildPlan, BuildWarning, PlannedStage, StageBase } from './build-plan.ts';
export type * from './instruction-types.ts';
export { StageEvaluator, DEFAULT_SHELL, type StageStart } from './stage-evaluator.ts';
export { SCRIPT_FOLDER } from './heredoc.ts';
export { applyFileModeChange, formatFileModeChange } from './file-mode.ts';
export type * from './evaluated-step.ts';
export { stepCacheKeyText, stableStringify } from './step-cache-key.ts';
export { DockerfileError, type DockerfileErrorCode } from './dockerfile-errors.ts';
export { TARGET_PLATFORM_NAME, PLATFORM_ARGS, PROXY_ARGS, type ResolvedArg } from './build-args.ts';
