import { createInterface } from 'node:readline/promises';
import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { formatAgo, printFields, printTable, shortDigest } from '../output.ts';

export interface AppDetails {
  name: string;
  url: string;
  status: string;
  release: { version: string; imageDigest: string; createdAt: string } | null;
  machines: { id: string; status: string; exitCode: number | null; restarts?: number }[];
  scale?: { min: number; max: number; concurrency: number; idle_timeout_s: number };
  ports?: { host: number; container: number }[];
  preview?: { parent: string | null; branch: string | null } | null;
  previews?: { name: string; branch: string | null; url: string }[];
  lastDeploy?: { id: string; status: string; error: { code: string; message: string } | null; createdAt: string; finishedAt: string | null } | null;
  createdAt: string;
}

const options = {
  ...APP_OPTION,
  ...JSON_OPTION,
  quiet: { type: 'boolean', short: 'q' },
  yes: { type: 'boolean', short: 'y' },
} as const;

export const appsCommand: Command = {
  summary: 'Create, list, inspect and delete apps',
  options,
  subcommands: ['create', 'list', 'info', 'delete'],
  usage: [
    'Usage:',
    '  slipway apps create NAME          Create an app; NAME becomes its host name (lowercase letters, digits, hyphens)',
    '  slipway apps list [-q]            List apps with their status, release and URL (-q: names only)',
    '  slipway apps info [NAME]          Show an app: URL, status, release, git remote, scale, ports, previews, containers',
    '  slipway apps delete NAME [--yes]  Delete an app with its preview apps, and stop its containers',
    '',
    'Options:',
    '  -a, --app NAME   The app for info (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  -q, --quiet      list: print only the names',
    '  -y, --yes        delete: do not ask for confirmation on a terminal',
    '  --json           Print the API response as JSON',
  ].join('\n'),

  async run(args) {
    const { positionals, values } = parseCommandArgs(args, options);
    const [action, name, ...extra] = positionals;
    if (extra.length > 0) throw new CliError(`unexpected arguments: ${extra.join(' ')}`, ExitCode.usage);
    switch (action) {
      case 'create':
        return createApp(requireName(name, 'create'), values.json);
      case 'list':
      case 'ls':
        return listApps(values);
      case 'info':
        return showApp(await resolveApp(name ?? values.app), values.json);
      case 'delete':
      case 'rm':
        return deleteApp(requireName(name ?? values.app, 'delete'), values.yes);
      default:
        throw new CliError(`unknown action ${JSON.stringify(action ?? '')}: use create, list, info or delete.`, ExitCode.usage);
    }
  },
};

async function createApp(name: string, json: boolean | undefined): Promise<number> {
  const client = await ApiClient.fromEnvironment();
  const created = await client.json<{ name: string; url: string }>('POST', '/v1/apps', { name });
  if (json) process.stdout.write(`${JSON.stringify(created)}\n`);
  else process.stdout.write(`Created app ${created.name}: ${created.url}\nDeploy with "slipway deploy --app ${created.name}", or add its git remote with "slipway git-remote ${created.name}".\n`);
  return ExitCode.ok;
}

async function listApps(values: { json?: boolean; quiet?: boolean }): Promise<number> {
  const client = await ApiClient.fromEnvironment();
  const { apps } = await client.json<{ apps: AppDetails[] }>('GET', '/v1/apps');
  if (values.json) process.stdout.write(`${JSON.stringify(apps)}\n`);
  else if (values.quiet) process.stdout.write(apps.map((app) => `${app.name}\n`).join(''));
  else printTable(['NAME', 'STATUS', 'RELEASE', 'URL'], apps.map((app) => [app.name, app.status, app.release?.version ?? '-', app.url]));
  return ExitCode.ok;
}

/** Prints an app's details; `slipway status` shows the same. */
export async function showApp(name: string, json: boolean | undefined): Promise<number> {
  const client = await ApiClient.fromEnvironment();
  const app = await client.json<AppDetails>('GET', `/v1/apps/${encodeURIComponent(name)}`);
  if (json) {
    process.stdout.write(`${JSON.stringify(app)}\n`);
    return ExitCode.ok;
  }

  const fields: [string, string][] = [
    ['App', app.name],
    ['URL', app.url],
    ['Status', app.status],
    ['Release', app.release ? `${app.release.version} (image ${shortDigest(app.release.imageDigest)}, ${formatAgo(app.release.createdAt)})` : 'none yet'],
    ['Git remote', `${client.baseUrl}/git/${app.name}.git`],
  ];
  if (app.lastDeploy?.status === 'failed') {
    fields.push(['Last deploy', `failed ${formatAgo(app.lastDeploy.finishedAt ?? app.lastDeploy.createdAt)}: ${app.lastDeploy.error?.message ?? 'no reason recorded'}`]);
  }
  if (app.scale) fields.push(['Scale', `min ${app.scale.min}, max ${app.scale.max}, concurrency ${app.scale.concurrency}, idle timeout ${app.scale.idle_timeout_s}s`]);
  if (app.ports && app.ports.length > 0) fields.push(['Ports', app.ports.map((port) => `${port.host}->${port.container}/tcp`).join(', ')]);
  if (app.preview) fields.push(['Preview of', `${app.preview.parent ?? '(deleted)'}, branch ${app.preview.branch}`]);
  if (app.previews && app.previews.length > 0) fields.push(['Previews', app.previews.map((preview) => `${preview.name} (${preview.branch})`).join(', ')]);
  fields.push(['Created', formatAgo(app.createdAt)]);
  printFields(fields);

  if (app.machines.length > 0) {
    process.stdout.write('\n');
    printTable(
      ['CONTAINER', 'STATUS', 'RESTARTS', 'EXIT CODE'],
      app.machines.map((machine) => [machine.id, machine.status, String(machine.restarts ?? 0), machine.exitCode === null ? '-' : String(machine.exitCode)]),
    );
  }
  return ExitCode.ok;
}

async function deleteApp(name: string, yes: boolean | undefined): Promise<number> {
  if (!yes && process.stdin.isTTY && process.stdout.isTTY) {
    const prompt = createInterface({ input: process.stdin, output: process.stdout });
    try {
      const answer = await prompt.question(`This deletes app ${name}, its preview apps, releases, volumes and git repository. Type its name to confirm: `);
      if (answer.trim() !== name) throw new CliError(`the name did not match; app ${name} was not deleted.`);
    } finally {
      prompt.close();
    }
  }

  const client = await ApiClient.fromEnvironment();
  await client.request('DELETE', `/v1/apps/${encodeURIComponent(name)}`);
  process.stdout.write(`Deleted app ${name}\n`);
  return ExitCode.ok;
}

function requireName(name: string | undefined, action: string): string {
  if (!name) throw new CliError(`give the app name, for example: slipway apps ${action} hello`, ExitCode.usage);
  return name;
}
