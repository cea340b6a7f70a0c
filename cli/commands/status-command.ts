import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { showApp } from './apps-command.ts';

const options = { ...APP_OPTION, ...JSON_OPTION } as const;

export const statusCommand: Command = {
  summary: "Show an app's status, current release and containers (same as apps info)",
  options,
  usage: [
    'Usage: slipway status [--app NAME] [--json]',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --json           Print the API response as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one app, not ${positionals.length}.`, ExitCode.usage);
    return showApp(await resolveApp(values.app ?? positionals[0]), values.json);
  },
};
