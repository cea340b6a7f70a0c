import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { packContext } from '../../shared/build-context/pack-context.ts';
import { ApiClient } from '../api-client.ts';
import { APP_OPTION, resolveApp } from '../app-option.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import { JSON_OPTION, parseCommandArgs, type Command } from '../command.ts';
import { reportDeploy, showBuild, waitForDeploy } from '../deploy-progress.ts';
import { buildSecretHeader } from '../secret-option.ts';
import { ProgressBar } from '../terminal/progress-bar.ts';
import { createOutput, writeJson, writeLine, type Output } from '../terminal/terminal.ts';

const options = {
  ...APP_OPTION,
  ...JSON_OPTION,
  dockerfile: { type: 'string', short: 'f' },
  'build-arg': { type: 'string', multiple: true },
  target: { type: 'string' },
  'no-cache': { type: 'boolean' },
  secret: { type: 'string', multiple: true },
  image: { type: 'string' },
  detach: { type: 'boolean', short: 'd' },
} as const;

export const deployCommand: Command = {
  summary: 'Build a folder with a Dockerfile, or take an image, and release it',
  options,
  usage: [
    'Usage: slipway deploy [DIR] [--app NAME] [options]',
    '       slipway deploy --image REF [--app NAME]',
    '',
    'Packs DIR (default: the current folder) honouring .dockerignore, uploads it with a',
    'progress bar, shows the build as a timeline of its steps and waits until the new',
    'release accepts connections; then prints the URL. With --image it releases an image',
    'that the server has (pushed to its registry, or imported) without a build.',
    '',
    'Options:',
    '  -a, --app NAME          The app (default: SLIPWAY_APP, or the app of the "slipway" git remote)',
    '  -f, --dockerfile PATH   The Dockerfile, relative to DIR (default: Dockerfile)',
    '  --build-arg NAME=VALUE  Set a build argument (ARG); repeat for more',
    '  --target STAGE          Build the stage STAGE of a multi-stage Dockerfile',
    '  --no-cache              Run every step again instead of reusing cached layers',
    '  --secret id=NAME[,src=FILE|,env=VAR]',
    '                          A secret for RUN --mount=type=secret,id=NAME, from a file or an',
    '                          environment variable (default: the variable NAME); repeat for more',
    '  --image REF             Release this image instead of building, e.g. 127.0.0.1:7070/hello:build-7',
    '  -d, --detach            Return once the deploy is accepted, printing its id',
    '  --json                  Print progress events and the final deploy as JSON lines',
  ].join('\n'),

  async run(args) {
    const { positionals, values } = parseCommandArgs(args, options);
    if (positionals.length > 1) throw new CliError(`give one folder, not ${positionals.length}.`, ExitCode.usage);
    if (values.image && (positionals.length > 0 || values.dockerfile || values['build-arg'] || values.target || values['no-cache'] || values.secret)) {
      throw new CliError('--image releases an existing image: leave out the folder and the build options.', ExitCode.usage);
    }

    const app = await resolveApp(values.app);
    const output = createOutput({ json: values.json });
    const client = await ApiClient.fromEnvironment();
    // Fails fast on an unknown app, before a context is packed and uploaded.
    await client.request('GET', `/v1/apps/${encodeURIComponent(app)}`);

    if (values.image) return deployImage(client, app, values.image, output, values.detach);
    const dir = path.resolve(positionals[0] ?? '.');
    await requireFolder(dir);
    return deployFolder(client, app, dir, values, output);
  },
};

async function deployFolder(
  client: ApiClient,
  app: string,
  dir: string,
  values: { dockerfile?: string; 'build-arg'?: string[]; target?: string; 'no-cache'?: boolean; secret?: string[]; detach?: boolean },
  output: Output,
): Promise<number> {
  const query = new URLSearchParams({ dockerfile: values.dockerfile ?? 'Dockerfile' });
  for (const pair of values['build-arg'] ?? []) query.append('build-arg', buildArg(pair));
  if (values.target) query.set('target', values.target);
  if (values['no-cache']) query.set('no-cache', 'true');
  const secrets = await buildSecretHeader(values.secret ?? []);

  // Checked before packing, so a folder without a Dockerfile is not uploaded for nothing.
  const dockerfile = values.dockerfile ?? 'Dockerfile';
  if (!(await stat(path.resolve(dir, dockerfile)).catch(() => null))?.isFile()) {
    throw new CliError(`${path.join(dir, dockerfile)} does not exist: add a Dockerfile to ${dir}, or name another one with --dockerfile PATH (relative to ${dir}).`, ExitCode.usage);
  }

  const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-deploy-'));
  let deploy: { id: string; build: { id: string } };
  try {
    // Packing to a file first gives the upload a known size: a real progress bar, and a
    // Content-Length that lets the server reject a context over its limit at once.
    const archive = path.join(scratch, 'context.tar.gz');
    await pipeline(packContext(dir, { dockerfile: values.dockerfile }), createWriteStream(archive));
    deploy = await upload(client, app, archive, query, secrets, output);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  if (output.json) writeJson(output, { type: 'deploy-created', id: deploy.id, build: deploy.build.id });
  else writeLine(output, `Deploy ${deploy.id}: build ${deploy.build.id} queued`);
  if (values.detach) return ExitCode.ok;

  await showBuild(client, deploy.build.id, output);
  reportDeploy(await waitForDeploy(client, deploy.id, output), output);
  return ExitCode.ok;
}

async function upload(client: ApiClient, app: string, archive: string, query: URLSearchParams, secrets: string | null, output: Output) {
  const size = (await stat(archive)).size;
  const progress = new ProgressBar(output, 'Uploading context', size);
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      progress.update(sent);
      callback(null, chunk);
    },
  });

  const body = createReadStream(archive).pipe(meter);
  const response = await client.request('POST', `/v1/apps/${encodeURIComponent(app)}/deploys?${query}`, {
    body: Readable.toWeb(body) as ReadableStream,
    headers: { 'content-type': 'application/gzip', 'content-length': String(size), ...(secrets ? { 'slipway-build-secret': secrets } : {}) },
  });
  progress.finish('Uploaded');
  if (output.json) writeJson(output, { type: 'upload', bytes: size });
  return (await response.json()) as { id: string; build: { id: string } };
}

async function deployImage(client: ApiClient, app: string, image: string, output: Output, detach: boolean | undefined): Promise<number> {
  const deploy = await client.json<{ id: string; image: { reference: string; digest: string }; release: { version: string } }>(
    'POST',
    `/v1/apps/${encodeURIComponent(app)}/releases`,
    { image },
  );
  if (output.json) writeJson(output, { type: 'deploy-created', id: deploy.id, image: deploy.image, release: deploy.release.version });
  else writeLine(output, `Deploy ${deploy.id}: releasing ${deploy.image.reference} (${deploy.image.digest}) as ${deploy.release.version}`);
  if (detach) return ExitCode.ok;

  reportDeploy(await waitForDeploy(client, deploy.id, output), output);
  return ExitCode.ok;
}

/** Checks `NAME=value` and passes it on; `NAME` alone takes the value from this environment, as docker build does. */
function buildArg(pair: string): string {
  const equals = pair.indexOf('=');
  if (equals > 0) return pair;
  if (equals === -1 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(pair) && process.env[pair] !== undefined) return `${pair}=${process.env[pair]}`;
  throw new CliError(`--build-arg ${JSON.stringify(pair)} is invalid: give NAME=value, or the NAME of a variable set in this environment.`, ExitCode.usage);
}

async function requireFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new CliError(`${dir} is not a directory: give the directory that contains the Dockerfile.`, ExitCode.usage);
}

