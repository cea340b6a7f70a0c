import { CliError, ExitCode } from './cli-error.ts';
import { appsCommand } from './commands/apps-command.ts';
import { baseImagesCommand } from './commands/base-images-command.ts';
import { deployCommand } from './commands/deploy-command.ts';
import { logsCommand } from './commands/logs-command.ts';
import { serverCommand } from './commands/server-command.ts';
import { statusCommand } from './commands/status-command.ts';

export interface Command {
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  server: serverCommand,
  'base-images': baseImagesCommand,
  apps: appsCommand,
  deploy: deployCommand,
  status: statusCommand,
  logs: logsCommand,
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return ['Usage: slipway <command> [options]', '', 'Commands:', ...lines, '', 'Run "slipway <command> --help" for the options of a command.'].join('\n');
}

/** Runs one CLI command and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? ExitCode.ok : ExitCode.usage;
  }

  const command = commands[name];
  if (!command) {
    process.stderr.write(`slipway: unknown command "${name}".\n\n${usage()}\n`);
    return ExitCode.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return ExitCode.ok;
  }

  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`slipway ${name}: ${error.message}\n`);
      return error.exitCode;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`slipway ${name}: ${(error as Error).message}\n\n${command.usage}\n`);
      return ExitCode.usage;
    }
    throw error;
  }
}
