/** Exit codes that scripts can rely on. */
export const ExitCode = {
  ok: 0,
  /** The command failed: a build failed, the server rejected the request. */
  failure: 1,
  /** The command line was wrong: unknown command, missing option, or a value the server rejected as invalid. */
  usage: 2,
  /** The server could not be reached or did not authenticate us. */
  unavailable: 3,
  /** The app, release, volume or port that the command names does not exist. */
  notFound: 4,
} as const;

/** An error the CLI prints as one plain line before exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** An error response of the API, with its HTTP status and the stable error code of its body. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message, exitCodeForStatus(status, code));
    this.name = 'ApiError';
  }
}

/** Codes of 400 responses about the project being built (its Dockerfile, context or sources) rather than the command line. */
const PROJECT_ERROR = /^(DOCKERFILE|CONTEXT|ADD|COPY|BUILD)_/;

function exitCodeForStatus(status: number, code: string | undefined): number {
  if (status === 401 || status === 403 || status === 502 || status === 503) return ExitCode.unavailable;
  if (status === 404) return ExitCode.notFound;
  // A value from the command line that the server found invalid is wrong usage, as the
  // same mistake caught by the CLI itself is.
  if (status === 400 && !PROJECT_ERROR.test(code ?? '')) return ExitCode.usage;
  return ExitCode.failure;
}
