import { ValidationError } from '../errors.ts';

/**
 * User errors about an uploaded build context. Each names the archive entry or path at
 * fault in the message and in `details.entry`, and tells the user what to send instead.
 */
export type ContextErrorCode =
  | 'CONTEXT_NOT_A_TAR'
  | 'CONTEXT_ARCHIVE_CORRUPT'
  | 'CONTEXT_ENTRY_ABSOLUTE_PATH'
  | 'CONTEXT_ENTRY_OUTSIDE_ROOT'
  | 'CONTEXT_ENTRY_THROUGH_SYMLINK'
  | 'CONTEXT_ENTRY_CONFLICT'
  | 'CONTEXT_ENTRY_DEVICE'
  | 'CONTEXT_ENTRY_UNSUPPORTED_TYPE'
  | 'CONTEXT_ENTRY_NAME_INVALID'
  | 'CONTEXT_HARDLINK_OUTSIDE_ROOT'
  | 'CONTEXT_HARDLINK_TARGET_MISSING'
  | 'CONTEXT_TOO_MANY_ENTRIES'
  | 'CONTEXT_UNPACKED_TOO_LARGE'
  | 'DOCKERFILE_PATH_INVALID'
  | 'DOCKERFILE_NOT_FOUND'
  | 'DOCKERFILE_TOO_LARGE'
  | 'DOCKERIGNORE_TOO_LARGE';

export class ContextError extends ValidationError {
  constructor(code: ContextErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(code, message, { details, cause });
    this.name = 'ContextError';
  }
}

/** The advice on what to send, appended to messages about the archive as a whole. */
export const SEND_A_TAR_HINT =
  'Send the build context as a tar or gzip-compressed tar archive of the project folder, such as the output of ' +
  '`tar -czf - -C DIR .` or `git archive --format=tar.gz HEAD`; `slipway deploy DIR` does this for you.';

/** Rejects one archive entry; `entry` is the name as stored in the archive. */
export function entryError(code: ContextErrorCode, entry: string, reason: string, extra: Record<string, unknown> = {}): ContextError {
  return new ContextError(
    code,
    `The build context has an entry ${JSON.stringify(entry)} that ${reason}. Slipway rejects such archives to keep the build inside its folder: pack the project folder without it.`,
    { entry, ...extra },
  );
}

export function unpackedTooLarge(maxBytes: number): ContextError {
  return new ContextError(
    'CONTEXT_UNPACKED_TOO_LARGE',
    `The build context unpacks to more than ${maxBytes} bytes: add large files that the build does not need to .dockerignore.`,
    { maxBytes },
  );
}
