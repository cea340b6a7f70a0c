import { parseArgs, type ParseArgsConfig } from 'node:util';

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** One `slipway <name>` command. */
export interface Command {
  summary: string;
  /** The full --help text. */
  usage: string;
  /** The options it takes, for parsing and for shell completion. */
  options?: CommandOptions;
  /** Its subcommands (`apps create`, `env set`), for shell completion. */
  subcommands?: string[];
  run(args: string[]): Promise<number>;
}

/** The --json option that every command with output for programs takes. */
export const JSON_OPTION = { json: { type: 'boolean' } } as const;

/**
 * Parses a command's arguments strictly: an unknown option or a missing value throws
 * ERR_PARSE_ARGS_*, which main turns into a usage error with the command's help.
 */
export function parseCommandArgs<T extends CommandOptions>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}
