import { Readable } from 'node:stream';
import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { parseCommandArgs, type Command } from '../command.ts';
import { followStream } from '../follow-stream.ts';

const options = {
  ...APP_OPTION,
  follow: { type: 'boolean', short: 'f' },
  tail: { type: 'string', short: 'n' },
  since: { type: 'string' },
  timestamps: { type: 'boolean', short: 't' },
} as const;

function followSince(app: string, since: Date, timestamps: boolean | undefined): string {
  const query = new URLSearchParams({ follow: 'true', since: since.toISOString() });
  if (timestamps) query.set('timestamps', 'true');
  return `/v1/apps/${encodeURIComponent(app)}/logs?${query}`;
}

export const logsCommand: Command = {
  summary: "Show an app's output (stdout and stderr)",
  options,
  usage: [
    'Usage: slipway logs [--app NAME] [-f] [--since TIME] [--tail N] [--timestamps]',
    '',
    'Options:',
    '  -a, --app NAME      The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  -f, --follow        Keep printing new lines until interrupted',
    '  --since TIME        Only lines written since TIME: a duration before now (10m, 1h30m, 2d),',
    '                      a time such as 2024-05-01T10:00:00Z, or Unix seconds',
    '  -n, --tail N        Start with the last N lines (default: all that are kept)',
    '  -t, --timestamps    Prefix each line with the time it was written',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one app, not ${positionals.length}.`, ExitCode.usage);
    const app = await resolveApp(values.app ?? positionals[0]);

    const query = new URLSearchParams();
    if (values.follow) query.set('follow', 'true');
    if (values.tail) query.set('tail', values.tail);
    if (values.since) query.set('since', values.since);
    if (values.timestamps) query.set('timestamps', 'true');

    const client = await ApiClient.fromEnvironment();
    const path = `/v1/apps/${encodeURIComponent(app)}/logs?${query}`;
    if (!values.follow) {
      const response = await client.request('GET', path);
      for await (const chunk of Readable.fromWeb(response.body as never)) process.stdout.write(chunk as Buffer);
      return ExitCode.ok;
    }
    // After a break the follower requests the lines since the break, so none repeat or go missing.
    await followStream(client, path, (chunk) => process.stdout.write(chunk), () => followSince(app, new Date(), values.timestamps));
    return ExitCode.ok;
  },
};
