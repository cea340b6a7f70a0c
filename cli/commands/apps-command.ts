import { parseArgs } from 'node:util';
import { ApiClient } from '../api-client.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';
import { printTable } from '../output.ts';

interface AppSummary {
  name: string;
  url: string;
  status: string;
  release: { version: string } | null;
}

export const appsCommand: Command = {
  summary: 'Create, list and delete apps',
  usage: [
    'Usage:',
    '  slipway apps create NAME   Create an app; NAME becomes its host name (lowercase letters, digits, hyphens)',
    '  slipway apps list          List apps with their status, release and URL',
    '  slipway apps delete NAME   Delete an app and stop its containers',
    '',
    'Options:',
    '  --json   Print the API response as JSON',
  ].join('\n'),

  async run(args) {
    const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
    const [action, name] = positionals;
    const client = await ApiClient.fromEnvironment();

    switch (action) {
      case 'create': {
        const created = await client.json<{ name: string; url: string }>('POST', '/v1/apps', { name: requireName(name) });
        if (values.json) process.stdout.write(`${JSON.stringify(created)}\n`);
        else process.stdout.write(`Created app ${created.name}: ${created.url}\n`);
        return ExitCode.ok;
      }
      case 'list': {
        const { apps } = await client.json<{ apps: AppSummary[] }>('GET', '/v1/apps');
        if (values.json) process.stdout.write(`${JSON.stringify(apps)}\n`);
        else printTable(['NAME', 'STATUS', 'RELEASE', 'URL'], apps.map((app) => [app.name, app.status, app.release?.version ?? '-', app.url]));
        return ExitCode.ok;
      }
      case 'delete': {
        const app = requireName(name);
        await client.request('DELETE', `/v1/apps/${encodeURIComponent(app)}`);
        process.stdout.write(`Deleted app ${app}\n`);
        return ExitCode.ok;
      }
      default:
        throw new CliError(`unknown action ${JSON.stringify(action ?? '')}: use create, list or delete.`, ExitCode.usage);
    }
  },
};

function requireName(name: string | undefined): string {
  if (!name) throw new CliError('give the app name, for example: slipway apps create hello', ExitCode.usage);
  return name;
}
