import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { formatAgo, printTable } from '../output.ts';

const options = { ...APP_OPTION, ...JSON_OPTION, path: { type: 'string' }, force: { type: 'boolean' } } as const;

export const volumesCommand: Command = {
  summary: "Create, list and delete an app's volumes",
  options,
  subcommands: ['create', 'list', 'delete'],
  usage: [
    'Usage:',
    '  slipway volumes create NAME:PATH [--app NAME]    Create a volume mounted at PATH in every release',
    '  slipway volumes create NAME --path PATH          The same, with the path as an option',
    '  slipway volumes [list] [--app NAME] [--json]     List the volumes',
    '  slipway volumes delete NAME [--force]            Delete a volume and its files',
    '',
    'A volume keeps its files across releases and restarts; a new one starts with what the',
    "image has at PATH. It is mounted from the next release on. Deleting a volume that a",
    'running container uses needs --force, and that container loses its files.',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --path PATH      create: the absolute path in the container, such as /data',
    '  --force          delete: delete even while a running container has it mounted',
    '  --json           Print the API response as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    const [action = 'list', name, ...rest] = positionals;
    if (rest.length > 0) throw new CliError(`unexpected arguments: ${rest.join(' ')}`, ExitCode.usage);
    const app = await resolveApp(values.app);
    const base = `/v1/apps/${encodeURIComponent(app)}/volumes`;

    switch (action) {
      case 'list':
      case 'ls': {
        const client = await ApiClient.fromEnvironment();
        const { volumes } = await client.json<{ volumes: { name: string; path: string; createdAt: string }[] }>('GET', base);
        if (values.json) process.stdout.write(`${JSON.stringify(volumes)}\n`);
        else printTable(['NAME', 'PATH', 'CREATED'], volumes.map((volume) => [volume.name, volume.path, formatAgo(volume.createdAt)]));
        return ExitCode.ok;
      }
      case 'create': {
        const volume = parseVolume(name, values.path);
        const client = await ApiClient.fromEnvironment();
        const created = await client.json<{ name: string; path: string }>('POST', base, volume);
        if (values.json) process.stdout.write(`${JSON.stringify(created)}\n`);
        else process.stdout.write(`Created volume ${created.name} of ${app} at ${created.path}; releases made from now on mount it.\n`);
        return ExitCode.ok;
      }
      case 'delete':
      case 'rm': {
        if (!name) throw new CliError('give the volume name, for example: slipway volumes delete data', ExitCode.usage);
        const client = await ApiClient.fromEnvironment();
        await client.request('DELETE', `${base}/${encodeURIComponent(name)}${values.force ? '?force=true' : ''}`);
        process.stdout.write(`Deleted volume ${name} of ${app}\n`);
        return ExitCode.ok;
      }
      default:
        throw new CliError(`unknown action ${JSON.stringify(action)}: use create, list or delete.`, ExitCode.usage);
    }
  },
};

function parseVolume(spec: string | undefined, pathOption: string | undefined): { name: string; path: string } {
  if (!spec) throw new CliError('give the volume as NAME:PATH, for example: slipway volumes create data:/data', ExitCode.usage);
  const colon = spec.indexOf(':');
  const name = colon === -1 ? spec : spec.slice(0, colon);
  const path = colon === -1 ? pathOption : spec.slice(colon + 1);
  if (!path) throw new CliError(`give the path in the container: slipway volumes create ${name}:/data, or --path /data`, ExitCode.usage);
  if (colon !== -1 && pathOption) throw new CliError('give the path once: as NAME:PATH or with --path, not both.', ExitCode.usage);
  return { name, path };
}
