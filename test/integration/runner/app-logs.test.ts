import { stat } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runc } from '../../../shared/container/runc.ts';
import { machines } from '../../../shared/db/schema.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

let harness: RunnerHarness;
let runc: Runc;

/** Prints `tick N` five times a second while httpd serves. */
const TICKING_CMD = ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & i=0; while true; do i=$((i+1)); echo "tick $i"; usleep 200000; done'];

beforeAll(async () => {
  harness = await startRunnerHarness('logs');
  runc = new Runc({ stateDir: path.join(harness.config.dataDir, 'runc') });
});

afterAll(async () => {
  await harness?.close();
});

/** Reads a streamed response until `done` accepts the text so far; cancels the stream afterwards. */
async function readUntil(response: Response, done: (text: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const deadline = Date.now() + timeoutMs;
  let text = '';
  try {
    while (!done(text)) {
      if (Date.now() > deadline) throw new Error(`the log did not show what was expected within ${timeoutMs} ms:\n${text.slice(-2000)}`);
      const { value, done: ended } = await reader.read();
      if (ended) break;
      text += decoder.decode(value, { stream: true });
    }
    return text;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

async function logText(app: string): Promise<string> {
  return (await harness.api('GET', `/v1/apps/${app}/logs`)).text();
}

function ticks(text: string): number[] {
  return [...text.matchAll(/^tick (\d+)$/gm)].map((match) => Number(match[1]));
}

describe('app logs', () => {
  let appId: string;

  it('prefix each line with its time when asked', async () => {
    appId = await harness.createApp('chatty', { min: 1 });
    expect((await harness.deploy('chatty', await harness.image({ cmd: TICKING_CMD }))).status).toBe('succeeded');
    const response = await harness.api('GET', '/v1/apps/chatty/logs?follow=true&timestamps=true');
    const text = await readUntil(response, (sofar) => /tick 2\n/.test(sofar));
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tick 1$/m);
  });

  it('keep following across a restart of the container', async () => {
    const response = await harness.api('GET', '/v1/apps/chatty/logs?follow=true');
    const [row] = await harness.deps.db.select().from(machines).where(eq(machines.appId, appId));
    const pid = (await runc.state(row!.id))!.pid;
    setTimeout(() => process.kill(pid, 'SIGKILL'), 500);

    const text = await readUntil(response, (sofar) => /exited with code 137[\s\S]*\ntick 2\n/.test(sofar));
    const afterExit = text.slice(text.indexOf('exited with code 137'));
    expect(afterExit).toContain(`Starting chatty v1 in ${row!.id}`);
    expect(ticks(afterExit).slice(0, 2)).toEqual([1, 2]);
  });

  it('ship every line once across a runner restart', async () => {
    await harness.runner.close();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await harness.restartRunner();
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const text = await logText('chatty');
    const lastRun = ticks(text.slice(text.lastIndexOf('[slipway] Starting')));
    expect(lastRun.length).toBeGreaterThan(10);
    expect(lastRun).toEqual(lastRun.map((_tick, index) => lastRun[0]! + index));
  });
});

describe('a log file', () => {
  it('keeps its disk use bounded after much output', async () => {
    const appId = await harness.createApp('flood', { min: 1 });
    const cmd = ['sh', '-c', 'line=$(head -c 4000 /dev/zero | tr "\\0" x); yes "$line" | head -n 6000; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait'];
    expect((await harness.deploy('flood', await harness.image({ cmd }))).status).toBe('succeeded');
    const [row] = await harness.deps.db.select().from(machines).where(eq(machines.appId, appId));
    const logFile = path.join(harness.config.dataDir, 'machines', row!.id, 'stdout.log');

    const shipped = await waitFor('shipping', () => stat(logFile), (stats) => stats.size >= 24_000_000 && stats.blocks * 512 < 16 * 1024 * 1024, 60_000);
    expect(shipped.blocks * 512).toBeLessThan(shipped.size / 2);
    const lines = (await logText('flood')).split('\n').filter((line) => line.startsWith('xxxx'));
    expect(lines.length).toBeGreaterThan(5000);
  });
});
