import { SlipwayError, SystemError, ValidationError, errorMessage, isSlipwayError } from '../../shared/errors.ts';
import type { EvaluatedStep } from './frontend/index.ts';

/** Maximum length of instruction text quoted in an error message. Longer text is cut with an ellipsis. */
const MAX_QUOTED_INSTRUCTION = 200;

/** Formats the instruction as an error message quotes it: `RUN make (line 4)`. */
export function describeStep(step: Pick<EvaluatedStep, 'text' | 'line'>): string {
  const text = step.text.length > MAX_QUOTED_INSTRUCTION ? `${step.text.slice(0, MAX_QUOTED_INSTRUCTION)}…` : step.text;
  return `${text} (line ${step.line})`;
}

export interface StepFailure {
  buildId: string;
  step: Pick<EvaluatedStep, 'text' | 'line'>;
  exitCode: number;
  /** The last lines the command printed. */
  outputTail: string;
}

/**
 * A RUN command exited with a non-zero code: the user's command failed, not the builder.
 * `details` carries the Dockerfile line and the exit code for the build record.
 */
export class BuildStepError extends SlipwayError {
  readonly line: number;
  readonly exitCode: number;
  readonly outputTail: string;

  constructor(code: 'BUILD_STEP_FAILED' | 'BUILD_STEP_OUT_OF_MEMORY', message: string, failure: StepFailure) {
    super(code, message, {
      kind: 'user',
      details: { buildId: failure.buildId, line: failure.step.line, step: failure.step.text, exitCode: failure.exitCode },
    });
    this.name = 'BuildStepError';
    this.line = failure.step.line;
    this.exitCode = failure.exitCode;
    this.outputTail = failure.outputTail;
  }
}

export function stepFailed(failure: StepFailure): BuildStepError {
  const tail = failure.outputTail.trim() === '' ? 'the command printed nothing' : failure.outputTail.trim();
  return new BuildStepError('BUILD_STEP_FAILED', `${describeStep(failure.step)} failed with exit code ${failure.exitCode}: ${tail}`, failure);
}

export function stepOutOfMemory(failure: StepFailure, memoryBytes: number): BuildStepError {
  const limit = `${Math.round(memoryBytes / 1024 / 1024)} MiB`;
  return new BuildStepError(
    'BUILD_STEP_OUT_OF_MEMORY',
    `${describeStep(failure.step)} was killed because it reached the build memory limit of ${limit} (exit code ${failure.exitCode}): ` +
      'make the step use less memory or raise SLIPWAY_BUILD_MEMORY_BYTES.',
    failure,
  );
}

export function stepTimedOut(buildId: string, step: Pick<EvaluatedStep, 'text' | 'line'>, timeoutMs: number): SlipwayError {
  return new SlipwayError(
    'BUILD_STEP_TIMEOUT',
    `${describeStep(step)} ran longer than the step limit of ${formatSeconds(timeoutMs)} and was stopped: ` +
      'make the step faster, split it into several RUN steps, or raise SLIPWAY_BUILD_STEP_TIMEOUT_S.',
    { kind: 'user', details: { buildId, line: step.line, step: step.text, timeoutMs } },
  );
}

export function buildCancelled(buildId: string, reason?: unknown): SlipwayError {
  return new SlipwayError('BUILD_CANCELLED', `Build ${buildId} was cancelled.`, { kind: 'user', cause: reason, details: { buildId } });
}

/**
 * Returns `error` with the build id and the Dockerfile line of `step` in its details, so
 * every failure of a step names the line. An error that names a line already is returned
 * as it is; a plain Error becomes a SystemError with code BUILD_STEP_ERROR.
 */
export function errorAtStep(error: unknown, buildId: string, step: Pick<EvaluatedStep, 'text' | 'line'>): SlipwayError {
  if (isSlipwayError(error) && error.details.line !== undefined) return error;

  const details = { ...(isSlipwayError(error) ? error.details : {}), buildId, line: step.line, step: step.text };
  const message = `${describeStep(step)}: ${errorMessage(error)}`;
  if (!isSlipwayError(error)) return new SystemError('BUILD_STEP_ERROR', message, { cause: error, details });
  return new SlipwayError(error.code, message, { kind: error.kind, status: error.status, cause: error, details });
}

/** Creates the error for a COPY or ADD source that matches nothing in its root (the build context, a stage or an image). */
export function copySourceNotFound(step: Pick<EvaluatedStep, 'text' | 'line'>, source: string, rootName: string): ValidationError {
  return new ValidationError(
    'COPY_SOURCE_NOT_FOUND',
    `${describeStep(step)}: ${source} was not found in ${rootName}: check the path and that .dockerignore does not exclude it.`,
    { details: { line: step.line, source } },
  );
}

function formatSeconds(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
