import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';

const options = { ...APP_OPTION, ...JSON_OPTION } as const;

export const envCommand: Command = {
  summary: "List, set and unset an app's environment variables",
  options,
  subcommands: ['list', 'set', 'unset'],
  usage: [
    'Usage:',
    '  slipway env [list] [--app NAME] [--json]     Print the variables as NAME=value lines',
    '  slipway env set NAME=VALUE... [--app NAME]   Set variables; other variables keep their values',
    '  slipway env unset NAME... [--app NAME]       Remove variables',
    '',
    'The environment applies to releases made after the change: deploy (or git push) to',
    'start the app with it.',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --json           Print the environment as a JSON object',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    const [action = 'list', ...rest] = positionals;
    const app = await resolveApp(values.app);
    const path = `/v1/apps/${encodeURIComponent(app)}/env`;

    switch (action) {
      case 'list':
      case 'ls': {
        if (rest.length > 0) throw new CliError(`unexpected arguments: ${rest.join(' ')}`, ExitCode.usage);
        const client = await ApiClient.fromEnvironment();
        const { env } = await client.json<{ env: Record<string, string> }>('GET', path);
        printEnv(env, values.json);
        return ExitCode.ok;
      }
      case 'set': {
        const patch = Object.fromEntries(rest.map(parseAssignment));
        if (rest.length === 0) throw new CliError('give at least one NAME=VALUE, for example: slipway env set LOG_LEVEL=debug', ExitCode.usage);
        const client = await ApiClient.fromEnvironment();
        const { env } = await client.json<{ env: Record<string, string> }>('PATCH', path, patch);
        if (values.json) printEnv(env, true);
        else process.stdout.write(`Set ${Object.keys(patch).join(', ')} on ${app}. ${APPLIES}\n`);
        return ExitCode.ok;
      }
      case 'unset':
      case 'rm': {
        if (rest.length === 0) throw new CliError('give at least one variable name, for example: slipway env unset LOG_LEVEL', ExitCode.usage);
        const client = await ApiClient.fromEnvironment();
        const before = (await client.json<{ env: Record<string, string> }>('GET', path)).env;
        const { env } = await client.json<{ env: Record<string, string> }>('PATCH', path, Object.fromEntries(rest.map((name) => [name, null])));
        if (values.json) {
          printEnv(env, true);
          return ExitCode.ok;
        }
        // As `unset` in a shell, a name that was not set is no error; it is only reported.
        const removed = rest.filter((name) => name in before);
        const absent = rest.filter((name) => !(name in before));
        if (removed.length > 0) process.stdout.write(`Removed ${removed.join(', ')} from ${app}. ${APPLIES}\n`);
        if (absent.length > 0) process.stdout.write(`${absent.join(', ')} ${absent.length === 1 ? 'was' : 'were'} not set on ${app}; nothing to remove.\n`);
        return ExitCode.ok;
      }
      default:
        throw new CliError(`unknown action ${JSON.stringify(action)}: use list, set or unset.`, ExitCode.usage);
    }
  },
};

const APPLIES = 'Releases made from now on get it: deploy or git push to use it.';

function parseAssignment(text: string): [string, string] {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new CliError(`${JSON.stringify(text)} is not NAME=VALUE: write it as LOG_LEVEL=debug (quote values with spaces).`, ExitCode.usage);
  return [text.slice(0, equals), text.slice(equals + 1)];
}

function printEnv(env: Record<string, string>, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(env)}\n`);
    return;
  }
  for (const name of Object.keys(env).sort()) process.stdout.write(`${name}=${env[name]}\n`);
}
