/** Exit codes that scripts can rely on. */
export const ExitCode = {
  ok: 0,
  /** The command failed: a build failed, the server rejected the request. */
  failure: 1,
  /** The command line was wrong: unknown command, missing option. */
  usage: 2,
  /** The server could not be reached or did not authenticate us. */
  unavailable: 3,
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
