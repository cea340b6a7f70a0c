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

  constructor(code: 'BUILD_STEP_FAILED' | 'BUILD_STEP_OUT_OF_MEMORY' | 'BUILD_STEP_PIDS_LIMIT', message: string, failure: StepFailure) {
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

export function stepOverPidsLimit(failure: StepFailure, pidsLimit: number): BuildStepError {
  const tail = failure.outputTail.trim() === '' ? '' : ` Its last output: ${failure.outputTail.trim()}`;
  return new BuildStepError(
    'BUILD_STEP_PIDS_LIMIT',
    `${describeStep(failure.step)} failed with exit code ${failure.exitCode} after it reached the build limit of ${pidsLimit} processes and threads: ` +
      `make the step start fewer processes or raise SLIPWAY_BUILD_PIDS_LIMIT.${tail}`,
    failure,
  );
}

/** A step wrote more than the build's disk limit allows; `writtenBytes` counts the build's layers so far with this step. */
export function buildOverDiskLimit(buildId: string, step: Pick<EvaluatedStep, 'text' | 'line'>, limitBytes: number): SlipwayError {
  return new SlipwayError(
    'BUILD_DISK_LIMIT',
    `${describeStep(step)} was stopped because the build wrote more than its disk limit of ${formatBytes(limitBytes)}: ` +
      'remove files the image does not need in the same step that creates them, or raise SLIPWAY_BUILD_DISK_BYTES.',
    { kind: 'user', details: { buildId, line: step.line, step: step.text, limitBytes } },
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

/**
 * Creates the error for a source that leads out of its root through a symbolic link, such
 * as a context file `config -> /etc/app.conf` or `-> ../../secrets`. The link is named,
 * because the path the user wrote looks fine.
 */
export function copySourceOutside(step: Pick<EvaluatedStep, 'text' | 'line'>, source: string, link: string, target: string, rootName: string): ValidationError {
  return new ValidationError(
    'COPY_SOURCE_OUTSIDE_CONTEXT',
    `${describeStep(step)}: ${source} leads outside ${rootName}, because ${link} is a symbolic link to ${target}: ` +
      'copy the file into the build context instead of linking to it.',
    { details: { line: step.line, source, link, target } },
  );
}

function formatBytes(bytes: number): string {
  const mebibytes = bytes / 1024 ** 2;
  return mebibytes >= 1024 ? `${(mebibytes / 1024).toFixed(1)} GiB` : `${Math.round(mebibytes)} MiB`;
}

function formatSeconds(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}
