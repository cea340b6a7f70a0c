import { setTimeout as sleep } from 'node:timers/promises';
import { ApiClient } from './api-client.ts';
import { CliError } from './cli-error.ts';
import { followStream } from './follow-stream.ts';
import { formatSeconds } from './output.ts';
import { BuildTimeline } from './terminal/build-timeline.ts';
import { Spinner } from './terminal/spinner.ts';
import { style, writeJson, writeLine, type Output } from './terminal/terminal.ts';

export interface DeployStatus {
  id: string;
  app: string;
  status: 'building' | 'releasing' | 'succeeded' | 'failed';
  build: { id: string; status: string } | null;
  release: { version: string; status: string } | null;
  url: string;
  error: { code: string; message: string } | null;
}

/** Interval between polls of a deploy's status, in ms. */
const POLL_INTERVAL_MS = 500;

/** Shows a build's output until the build ends, as a timeline on a terminal (see BuildTimeline). */
export async function showBuild(client: ApiClient, buildId: string, output: Output): Promise<void> {
  const timeline = new BuildTimeline(output);
  const decoder = new TextDecoder();
  await followStream(client, `/v1/builds/${buildId}/logs?follow=true`, (chunk) => timeline.write(decoder.decode(chunk, { stream: true })), 'skip-seen');

  timeline.finish((await finalBuildStatus(client, buildId)) === 'succeeded');
}

/** Waits for the build's final status, because the worker closes the log a moment before it records the outcome. */
async function finalBuildStatus(client: ApiClient, buildId: string): Promise<string> {
  for (;;) {
    const build = await client.json<{ status: string }>('GET', `/v1/builds/${buildId}`);
    if (build.status === 'succeeded' || build.status === 'failed') return build.status;
    await sleep(POLL_INTERVAL_MS / 5);
  }
}

/**
 * Polls a deploy until it has succeeded or failed, with a spinner while its release
 * starts and waits to accept connections.
 */
export async function waitForDeploy(client: ApiClient, deployId: string, output: Output): Promise<DeployStatus> {
  const spinner = new Spinner(output);
  let spinning = false;
  try {
    for (;;) {
      const deploy = await client.json<DeployStatus>('GET', `/v1/deploys/${deployId}`);
      if (deploy.status === 'succeeded' || deploy.status === 'failed') {
        const seconds = spinner.elapsedSeconds();
        spinner.stop(spinning && deploy.release ? releaseLine(output, deploy, seconds) : undefined);
        spinning = false;
        return deploy;
      }
      if (deploy.status === 'releasing' && !spinning) {
        spinner.start(`Starting ${deploy.release?.version ?? 'the release'} and waiting for it to accept connections`);
        spinning = true;
      }
      await sleep(POLL_INTERVAL_MS);
    }
  } finally {
    if (spinning) spinner.stop();
  }
}

function releaseLine(output: Output, deploy: DeployStatus, seconds: number): string {
  const ok = deploy.status === 'succeeded';
  const mark = ok ? style(output, 'green', '✔') : style(output, 'red', '✘');
  return `${mark} ${deploy.release!.version} ${ok ? 'accepts connections' : 'failed to start'} after ${formatSeconds(seconds)}`;
}

/**
 * Ends a deploy for the user: `Released v3 of hello: <url>` on success, or a CliError with
 * the reason. With --json the final deploy is printed as one JSON object.
 */
export function reportDeploy(deploy: DeployStatus, output: Output, note?: string): void {
  if (output.json) writeJson(output, { type: 'deploy', ...deploy });
  if (deploy.status === 'failed') {
    throw new CliError(`deploy ${deploy.id} failed: ${deploy.error?.message ?? 'no reason recorded'}`);
  }
  if (!output.json) writeLine(output, `Released ${deploy.release?.version ?? ''} of ${deploy.app}${note ? ` (${note})` : ''}: ${style(output, 'bold', deploy.url)}`);
}
