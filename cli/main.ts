import { readFileSync } from 'node:fs';
import { PROJECT_ROOT } from '../shared/config.ts';
import { CliError, ExitCode } from './cli-error.ts';
import type { Command, CommandOptions } from './command.ts';
import { appsCommand } from './commands/apps-command.ts';
import { completionCommand } from './commands/completion-command.ts';
import { deployCommand } from './commands/deploy-command.ts';
import { envCommand } from './commands/env-command.ts';
import { gitRemoteCommand } from './commands/git-remote-command.ts';
import { loginCommand, logoutCommand } from './commands/login-command.ts';
import { logsCommand } from './commands/logs-command.ts';
import { openCommand } from './commands/open-command.ts';
import { portsCommand } from './commands/ports-command.ts';
import { releasesCommand } from './commands/releases-command.ts';
import { rollbackCommand } from './commands/rollback-command.ts';
import { scaleCommand } from './commands/scale-command.ts';
import { statusCommand } from './commands/status-command.ts';
import { volumesCommand } from './commands/volumes-command.ts';

export type { Command };

/**
 * A command whose module is imported only when it runs or prints its help: the server
 * commands pull in the whole service, which would slow every client command down.
 */
interface LazyCommand {
  summary: string;
  options?: CommandOptions;
  load(): Promise<Command>;
}

const commands: Record<string, Command | LazyCommand> = {
  login: loginCommand,
  logout: logoutCommand,
  apps: appsCommand,
  deploy: deployCommand,
  status: statusCommand,
  logs: logsCommand,
  releases: releasesCommand,
  rollback: rollbackCommand,
  scale: scaleCommand,
  env: envCommand,
  volumes: volumesCommand,
  ports: portsCommand,
  'git-remote': gitRemoteCommand,
  open: openCommand,
  completion: completionCommand(() => commands),
  server: {
    summary: 'Run the Slipway service: API, build worker and runner',
    options: {},
    load: async () => (await import('./commands/server-command.ts')).serverCommand,
  },
  teardown: {
    summary: "Stop this host's app containers and remove Slipway's mounts, namespaces, bridges and firewall rules",
    options: {},
    load: async () => (await import('./commands/teardown-command.ts')).teardownCommand,
  },
  'base-images': {
    summary: 'Make debian:bookworm available to FROM, without a registry',
    options: { force: { type: 'boolean' }, refresh: { type: 'boolean' } },
    load: async () => (await import('./commands/base-images-command.ts')).baseImagesCommand,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    'Usage: slipway <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "slipway <command> --help" for the options of a command.',
    'Exit codes: 0 success, 1 failure, 2 wrong usage, 3 server unreachable or token rejected, 4 not found.',
  ].join('\n');
}

/** Runs one CLI command and returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`slipway ${packageVersion()}\n`);
    return ExitCode.ok;
  }

  const entry = commands[name];
  if (!entry) {
    process.stderr.write(`slipway: unknown command "${name}".\n\n${usage()}\n`);
    return ExitCode.usage;
  }
  const command = 'load' in entry ? await entry.load() : entry;
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
    // Anything else is a bug of the CLI or a failure it did not expect: show it plainly,
    // with the stack trace when SLIPWAY_DEBUG is set.
    process.stderr.write(`slipway ${name}: ${(error as Error).message ?? String(error)}\n`);
    if (process.env.SLIPWAY_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return ExitCode.failure;
  }
}

function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(`${PROJECT_ROOT}/package.json`, 'utf8')) as { version: string };
  return manifest.version;
}
