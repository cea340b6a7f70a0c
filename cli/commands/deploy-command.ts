import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { packContext } from '../../shared/build-context/pack-context.ts';
import { ApiClient } from '../api-client.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';
import { formatBytes } from '../output.ts';

interface DeployStatus {
  id: string;
  status: 'building' | 'releasing' | 'succeeded' | 'failed';
  build: { id: string; status: string } | null;
  release: { version: string; status: string } | null;
  url: string;
  error: { code: string; message: string } | null;
}

/** Interval between polls of the deploy's status once the build output has ended, in ms. */
const POLL_INTERVAL_MS = 500;

export const deployCommand: Command = {
  summary: 'Build a folder with a Dockerfile and release it',
  usage: [
    'Usage: slipway deploy [DIR] --app NAME [options]',
    '',
    'Packs DIR (default: the current folder) honouring .dockerignore, uploads it, shows the',
    'build output and waits until the new release serves traffic.',
    '',
    'Options:',
    '  --app NAME          The app to deploy to (required)',
    '  --dockerfile PATH   The Dockerfile, relative to DIR (default: Dockerfile)',
    '  --detach            Return once the upload is accepted, without waiting for the build',
  ].join('\n'),

  async run(args) {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      options: { app: { type: 'string' }, dockerfile: { type: 'string' }, detach: { type: 'boolean' } },
    });
    if (!values.app) throw new CliError('give the app with --app NAME, for example: slipway deploy . --app hello', ExitCode.usage);
    if (positionals.length > 1) throw new CliError(`give one folder, not ${positionals.length}.`, ExitCode.usage);

    const dir = path.resolve(positionals[0] ?? '.');
    await requireFolder(dir);
    const client = await ApiClient.fromEnvironment();
    const app = encodeURIComponent(values.app);
    const dockerfile = values.dockerfile ?? 'Dockerfile';

    // Fails fast on an unknown app, before the context is packed and uploaded.
    await client.request('GET', `/v1/apps/${app}`);
    const progress = new UploadProgress();
    const body = packContext(dir, { dockerfile }).pipe(progress.meter());
    const response = await client.request('POST', `/v1/apps/${app}/deploys?dockerfile=${encodeURIComponent(dockerfile)}`, {
      body: Readable.toWeb(body) as ReadableStream,
      headers: { 'content-type': 'application/gzip' },
    });
    progress.finish();
    const deploy = (await response.json()) as { id: string; build: { id: string } };
    process.stdout.write(`Deploy ${deploy.id}: build ${deploy.build.id} queued\n`);
    if (values.detach) return ExitCode.ok;

    await followBuildOutput(client, deploy.build.id);
    const result = await waitForDeploy(client, deploy.id);
    if (result.status === 'failed') {
      throw new CliError(`deploy failed: ${result.error?.message ?? 'no reason given'}`);
    }
    process.stdout.write(`Released ${result.release?.version ?? ''} of ${values.app}: ${result.url}\n`);
    return ExitCode.ok;
  },
};

async function requireFolder(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new CliError(`${dir} is not a directory: give the directory that contains the Dockerfile.`, ExitCode.usage);
}

async function followBuildOutput(client: ApiClient, buildId: string): Promise<void> {
  const response = await client.request('GET', `/v1/builds/${buildId}/logs?follow=true`);
  for await (const chunk of Readable.fromWeb(response.body as never)) process.stdout.write(chunk as Buffer);
}

async function waitForDeploy(client: ApiClient, deployId: string): Promise<DeployStatus> {
  let announcedRelease = false;
  for (;;) {
    const deploy = await client.json<DeployStatus>('GET', `/v1/deploys/${deployId}`);
    if (deploy.status === 'succeeded' || deploy.status === 'failed') return deploy;
    if (deploy.status === 'releasing' && !announcedRelease) {
      process.stdout.write(`Starting ${deploy.release?.version ?? 'the release'} and waiting for it to accept connections...\n`);
      announcedRelease = true;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** Counts uploaded bytes and shows them: a live line on a terminal, one summary line otherwise. */
class UploadProgress {
  private bytes = 0;
  private readonly startedAt = Date.now();
  private lastDrawn = 0;

  meter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.bytes += chunk.length;
        this.draw(false);
        callback(null, chunk);
      },
    });
  }

  finish(): void {
    this.draw(true);
  }

  private draw(final: boolean): void {
    const now = Date.now();
    if (!final && (!process.stdout.isTTY || now - this.lastDrawn < 100)) return;
    this.lastDrawn = now;

    const seconds = Math.max((now - this.startedAt) / 1000, 0.001);
    const line = `Uploading context: ${formatBytes(this.bytes)} (${formatBytes(this.bytes / seconds)}/s)`;
    if (process.stdout.isTTY) process.stdout.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stdout.write(`${line}\n`);
  }
}
