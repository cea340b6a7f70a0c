import { ValidationError } from '../../../shared/errors.ts';

/**
 * The user errors of the Dockerfile frontend. Each carries `details.line` (1-based, the
 * first line of the instruction) so the API can point at the line, and `details.column`
 * (1-based) where the position inside the line is known.
 */
export type DockerfileErrorCode =
  | 'DOCKERFILE_INVALID'
  | 'DOCKERFILE_UNKNOWN_INSTRUCTION'
  | 'DOCKERFILE_UNSUPPORTED'
  | 'DOCKERFILE_SYNTAX_UNSUPPORTED'
  | 'DOCKERFILE_TARGET_NOT_FOUND';

export interface SourcePosition {
  line: number;
  column?: number;
}

export class DockerfileError extends ValidationError {
  readonly line: number;

  constructor(code: DockerfileErrorCode, message: string, position: SourcePosition, cause?: unknown) {
    const details: Record<string, unknown> = { line: position.line };
    if (position.column !== undefined) details.column = position.column;
    super(code, message, { details, cause });
    this.name = 'DockerfileError';
    this.line = position.line;
  }
}

/** Formats the start of a message: `Dockerfile line 3, column 5`, or without the column when it is unknown. */
export function describePosition(position: SourcePosition): string {
  return `Dockerfile line ${position.line}${position.column === undefined ? '' : `, column ${position.column}`}`;
}

/** A malformed instruction; the message gets the position prepended so logs read on their own. */
export function invalidInstruction(position: SourcePosition, reason: string, cause?: unknown): DockerfileError {
  return new DockerfileError('DOCKERFILE_INVALID', `${describePosition(position)}: ${reason}`, position, cause);
}

/** Valid Dockerfile syntax that Slipway does not build. */
export function unsupportedFeature(position: SourcePosition, reason: string): DockerfileError {
  return new DockerfileError('DOCKERFILE_UNSUPPORTED', `${describePosition(position)}: ${reason}`, position);
}
