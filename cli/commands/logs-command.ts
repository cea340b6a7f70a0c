import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ApiClient } from '../api-client.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';

export const logsCommand: Command = {
  summary: "Show an app's output (stdout and stderr)",
  usage: [
    'Usage: slipway logs --app NAME [-f] [--tail N] [--timestamps]',
    '',
    'Options:',
    '  --app NAME        The app (required)',
    '  -f, --follow      Keep printing new lines until interrupted',
    '  --tail N          Start with the last N lines (default: all that are kept)',
    '  -t, --timestamps  Prefix each line with the time it was written',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        app: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        tail: { type: 'string' },
        timestamps: { type: 'boolean', short: 't' },
      },
    });
    const name = values.app ?? positionals[0];
    if (!name) throw new CliError('give the app with --app NAME.', ExitCode.usage);

    const query = new URLSearchParams();
    if (values.follow) query.set('follow', 'true');
    if (values.tail) query.set('tail', values.tail);
    if (values.timestamps) query.set('timestamps', 'true');

    const client = await ApiClient.fromEnvironment();
    const response = await client.request('GET', `/v1/apps/${encodeURIComponent(name)}/logs?${query}`);
    for await (const chunk of Readable.fromWeb(response.body as never)) process.stdout.write(chunk as Buffer);
    return ExitCode.ok;
  },
};
