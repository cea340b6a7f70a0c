import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { ApiError, CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { printTable } from '../output.ts';

interface PublishedPort {
  host: number;
  container: number;
}

const options = { ...APP_OPTION, ...JSON_OPTION } as const;

export const portsCommand: Command = {
  summary: "List, publish and unpublish an app's TCP ports on the host",
  options,
  subcommands: ['list', 'add', 'remove'],
  usage: [
    'Usage:',
    '  slipway ports [list] [--app NAME] [--json]         List published ports',
    '  slipway ports add HOST[:CONTAINER]... [--app NAME]  Forward host TCP port HOST to CONTAINER (default: the same port)',
    '  slipway ports remove HOST... [--app NAME]           Stop forwarding host port HOST',
    '',
    'Like docker run -p HOST:CONTAINER: a published port reaches the app directly over TCP,',
    'beside its HTTP URL, for databases and other protocols.',
    '',
    'Options:',
    '  -a, --app NAME   The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  --json           Print the published ports as JSON',
  ].join('\n'),

  async run(args) {
    const { values, positionals } = parseCommandArgs(args, options);
    const [action = 'list', ...specs] = positionals;
    const app = await resolveApp(values.app);
    const client = await ApiClient.fromEnvironment();
    const path = `/v1/apps/${encodeURIComponent(app)}/ports`;

    let ports: PublishedPort[];
    switch (action) {
      case 'list':
      case 'ls':
        if (specs.length > 0) throw new CliError(`unexpected arguments: ${specs.join(' ')}`, ExitCode.usage);
        ports = await readPorts(client, path);
        break;
      case 'add': {
        if (specs.length === 0) throw new CliError('give a port, for example: slipway ports add 5432 or 8443:443', ExitCode.usage);
        const added = specs.map(parsePortSpec);
        const current = await readPorts(client, path);
        for (const port of added) {
          const existing = current.find((other) => other.host === port.host && other.container !== port.container);
          if (existing) {
            throw new CliError(
              `host port ${port.host} already forwards to container port ${existing.container}: remove it first with "slipway ports remove ${port.host}", then add ${port.host}:${port.container}.`,
              ExitCode.usage,
            );
          }
        }
        const kept = current.filter((port) => !added.some((other) => other.host === port.host));
        ports = await writePorts(client, path, [...kept, ...added]);
        break;
      }
      case 'remove':
      case 'rm': {
        if (specs.length === 0) throw new CliError('give the host port to remove, for example: slipway ports remove 5432', ExitCode.usage);
        const hosts = specs.map((spec) => parsePort(spec.split(':')[0]!, spec));
        const current = await readPorts(client, path);
        const missing = hosts.filter((host) => !current.some((port) => port.host === host));
        if (missing.length > 0) throw new CliError(`${app} does not publish host port ${missing.join(', ')} (see "slipway ports --app ${app}").`, ExitCode.notFound);
        ports = await writePorts(client, path, current.filter((port) => !hosts.includes(port.host)));
        break;
      }
      default:
        throw new CliError(`unknown action ${JSON.stringify(action)}: use list, add or remove.`, ExitCode.usage);
    }

    if (values.json) process.stdout.write(`${JSON.stringify(ports)}\n`);
    else if (ports.length === 0) process.stdout.write(`${app} publishes no ports.\n`);
    else printTable(['HOST', 'CONTAINER'], ports.map((port) => [`${port.host}/tcp`, `${port.container}/tcp`]));
    return ExitCode.ok;
  },
};

/** Reads `HOST`, `HOST:CONTAINER` or either with a `/tcp` suffix, as docker's -p takes them. */
export function parsePortSpec(spec: string): PublishedPort {
  const match = /^(\d+)(?::(\d+))?(?:\/tcp)?$/i.exec(spec);
  if (!match) throw new CliError(`${JSON.stringify(spec)} is not a port: give HOST or HOST:CONTAINER, such as 5432 or 8443:443 (TCP only).`, ExitCode.usage);
  const host = parsePort(match[1]!, spec);
  return { host, container: match[2] ? parsePort(match[2], spec) : host };
}

function parsePort(text: string, spec: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) throw new CliError(`${JSON.stringify(spec)} is not a port: use numbers from 1 to 65535.`, ExitCode.usage);
  return port;
}

async function readPorts(client: ApiClient, path: string): Promise<PublishedPort[]> {
  return portsOf(await withRouteCheck(client, () => client.json<unknown>('GET', path)));
}

async function writePorts(client: ApiClient, path: string, ports: PublishedPort[]): Promise<PublishedPort[]> {
  const sorted = [...ports].sort((a, b) => a.host - b.host);
  return portsOf(await withRouteCheck(client, () => client.json<unknown>('PUT', path, sorted)));
}

/** Reads the ports from the API's response body: the list itself, or an object with the list as `ports`. */
function portsOf(body: unknown): PublishedPort[] {
  if (Array.isArray(body)) return body as PublishedPort[];
  return ((body as { ports?: PublishedPort[] } | null)?.ports ?? []) as PublishedPort[];
}

async function withRouteCheck<T>(client: ApiClient, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'ROUTE_NOT_FOUND') {
      throw new CliError(`the server at ${client.baseUrl} has no published-ports API (/v1/apps/:app/ports): update it.`);
    }
    throw error;
  }
}
