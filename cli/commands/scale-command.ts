import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { ApiError, CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { parseDurationSeconds, parseWholeNumber } from '../duration.ts';
import { printFields } from '../output.ts';

interface ScaleSettings {
  min: number;
  max: number;
  concurrency: number;
  idle_timeout_s: number;
  allow_scale_with_volume?: boolean;
}

const options = {
  ...APP_OPTION,
  ...JSON_OPTION,
  min: { type: 'string' },
  max: { type: 'string' },
  concurrency: { type: 'string' },
  'idle-timeout': { type: 'string' },
  'allow-scale-with-volume': { type: 'boolean' },
} as const;

export const scaleCommand: Command = {
  summary: 'Show or set how many containers an app runs',
  options,
  usage: [
    'Usage: slipway scale [--app NAME] [--min N] [--max N] [--concurrency N] [--idle-timeout DURATION]',
    '',
    'Without options it shows the settings. Options left out keep their value.',
    '',
    'Options:',
    '  -a, --app NAME              The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --min N                     Containers kept running; 0 lets an idle app stop until a request comes',
    '  --max N                     Most containers the app may run',
    '  --concurrency N             Requests in flight per container before another one starts',
    '  --idle-timeout DURATION     Time without requests after which a container above --min stops (300, 90s, 5m)',
    '  --allow-scale-with-volume   Let an app with a volume run more than one container sharing it',
    '  --json                      Print the settings as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 0) throw new CliError(`unexpected arguments: ${positionals.join(' ')} (set values with --min and --max)`, ExitCode.usage);
    const app = await resolveApp(values.app);
    const body: Partial<ScaleSettings> = {};
    if (values.min !== undefined) body.min = parseWholeNumber(values.min, '--min', 0);
    if (values.max !== undefined) body.max = parseWholeNumber(values.max, '--max', 1);
    if (values.concurrency !== undefined) body.concurrency = parseWholeNumber(values.concurrency, '--concurrency', 1);
    if (values['idle-timeout'] !== undefined) body.idle_timeout_s = parseDurationSeconds(values['idle-timeout'], '--idle-timeout');
    if (values['allow-scale-with-volume']) body.allow_scale_with_volume = true;

    const client = await ApiClient.fromEnvironment();
    const path = `/v1/apps/${encodeURIComponent(app)}/scale`;
    let settings: ScaleSettings;
    try {
      settings = Object.keys(body).length === 0 ? await client.json<ScaleSettings>('GET', path) : await client.json<ScaleSettings>('PUT', path, body);
    } catch (error) {
      throw explainScaleError(error, client);
    }

    if (values.json) process.stdout.write(`${JSON.stringify(settings)}\n`);
    else {
      if (Object.keys(body).length > 0) process.stdout.write(`Scaled ${app}; containers that start from now on follow these settings.\n`);
      printFields([
        ['Min', String(settings.min)],
        ['Max', String(settings.max)],
        ['Concurrency', `${settings.concurrency} requests per container`],
        ['Idle timeout', `${settings.idle_timeout_s}s`],
      ]);
    }
    return ExitCode.ok;
  },
};

function explainScaleError(error: unknown, client: ApiClient): unknown {
  if (!(error instanceof ApiError)) return error;
  if (error.code === 'ROUTE_NOT_FOUND') return new CliError(`the server at ${client.baseUrl} has no scaling API (/v1/apps/:app/scale): update it.`);
  if (error.code === 'SCALE_WITH_VOLUME') {
    const message = /send "allow_scale_with_volume".*$/.test(error.message)
      ? error.message.replace(/send "allow_scale_with_volume".*$/, 'add --allow-scale-with-volume.')
      : `${error.message} With slipway scale, add --allow-scale-with-volume.`;
    return new CliError(message, error.exitCode);
  }
  return error;
}
