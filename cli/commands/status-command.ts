import { parseArgs } from 'node:util';
import { ApiClient } from '../api-client.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';
import { printTable } from '../output.ts';

interface AppDetails {
  name: string;
  url: string;
  status: string;
  release: { version: string; imageDigest: string; createdAt: string } | null;
  machines: { id: string; status: string; exitCode: number | null }[];
}

export const statusCommand: Command = {
  summary: "Show an app's status, current release and containers",
  usage: ['Usage: slipway status --app NAME [--json]', '', 'Options:', '  --app NAME   The app to show (required)', '  --json       Print the API response as JSON'].join('\n'),

  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { app: { type: 'string' }, json: { type: 'boolean' } } });
    const name = values.app ?? positionals[0];
    if (!name) throw new CliError('give the app with --app NAME.', ExitCode.usage);

    const client = await ApiClient.fromEnvironment();
    const app = await client.json<AppDetails>('GET', `/v1/apps/${encodeURIComponent(name)}`);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(app)}\n`);
      return ExitCode.ok;
    }

    process.stdout.write(`App:     ${app.name}\nURL:     ${app.url}\nStatus:  ${app.status}\n`);
    process.stdout.write(`Release: ${app.release ? `${app.release.version} (${app.release.imageDigest})` : 'none yet'}\n`);
    if (app.machines.length > 0) {
      process.stdout.write('\n');
      printTable(['CONTAINER', 'STATUS', 'EXIT CODE'], app.machines.map((machine) => [machine.id, machine.status, machine.exitCode === null ? '-' : String(machine.exitCode)]));
    }
    return ExitCode.ok;
  },
};
