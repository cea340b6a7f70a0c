/**
 * Typed errors shared by every component. Each carries a stable `code` that clients
 * and tests match on, a kind that separates a user's mistake from a fault of ours,
 * and the HTTP status the API answers with.
 */
export type ErrorKind = 'user' | 'system';

export interface SlipwayErrorOptions {
  kind?: ErrorKind;
  status?: number;
  cause?: unknown;
  /** Extra fields that the API returns beside code and message, such as a Dockerfile line. */
  details?: Record<string, unknown>;
}

export class SlipwayError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: SlipwayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SlipwayError';
    this.code = code;
    this.kind = options.kind ?? 'user';
    this.status = options.status ?? (this.kind === 'user' ? 400 : 500);
    this.details = options.details ?? {};
  }
}

export class ValidationError extends SlipwayError {
  constructor(code: string, message: string, options: Omit<SlipwayErrorOptions, 'kind' | 'status'> = {}) {
    super(code, message, { ...options, kind: 'user', status: 400 });
  }
}

export class NotFoundError extends SlipwayError {
  constructor(code: string, message: string, options: Omit<SlipwayErrorOptions, 'kind' | 'status'> = {}) {
    super(code, message, { ...options, kind: 'user', status: 404 });
  }
}

export class ConflictError extends SlipwayError {
  constructor(code: string, message: string, options: Omit<SlipwayErrorOptions, 'kind' | 'status'> = {}) {
    super(code, message, { ...options, kind: 'user', status: 409 });
  }
}

/** A fault of the service or the host: a command that failed, a store that did not answer. */
export class SystemError extends SlipwayError {
  constructor(code: string, message: string, options: Omit<SlipwayErrorOptions, 'kind'> = {}) {
    super(code, message, { ...options, kind: 'system', status: options.status ?? 500 });
  }
}

export function isSlipwayError(error: unknown): error is SlipwayError {
  return error instanceof SlipwayError;
}

/** Returns the message of anything thrown, for logs and wrapped errors. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
