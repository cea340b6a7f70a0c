import { SlipwayError, SystemError } from '../errors.ts';

/** runc itself failed (not the container's process): the message carries what runc printed. */
export class RuncError extends SystemError {
  readonly containerId: string;
  readonly runcOutput: string;

  constructor(containerId: string, operation: string, runcOutput: string, cause?: unknown) {
    super('RUNC_FAILED', `runc ${operation} of container ${containerId} failed: ${runcOutput || 'runc printed nothing'}`, {
      cause,
      details: { containerId, operation },
    });
    this.containerId = containerId;
    this.runcOutput = runcOutput;
  }
}

/** A foreground container ran past its time limit; it was killed and deleted. */
export class ContainerTimeoutError extends SlipwayError {
  constructor(containerId: string, timeoutMs: number) {
    super('CONTAINER_TIMEOUT', `Container ${containerId} ran longer than ${timeoutMs} ms and was killed: make the command finish sooner.`, {
      kind: 'user',
      details: { containerId, timeoutMs },
    });
  }
}

/** A foreground container was stopped because its AbortSignal fired; it was killed and deleted. */
export class ContainerAbortedError extends SlipwayError {
  constructor(containerId: string, reason: unknown) {
    super('CONTAINER_ABORTED', `Container ${containerId} was stopped because its run was cancelled.`, {
      kind: 'user',
      cause: reason,
      details: { containerId },
    });
  }
}
