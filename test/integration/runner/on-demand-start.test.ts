import net from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machines } from '../../../shared/db/schema.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

let harness: RunnerHarness;
let image: string;

beforeAll(async () => {
  harness = await startRunnerHarness('on_demand');
  image = await harness.image();
});

afterAll(async () => {
  await harness?.close();
});

async function machineRows(appId: string) {
  return harness.deps.db.select().from(machines).where(eq(machines.appId, appId));
}

describe('an app with min 0', () => {
  let appId: string;

  it('serves its release after a deploy', async () => {
    appId = await harness.createApp('sleepy', { idleTimeoutS: 1 });
    const deploy = await harness.deploy('sleepy', image);
    expect(deploy.status, JSON.stringify(deploy.error)).toBe('succeeded');
    expect(await harness.get('sleepy')).toMatchObject({ status: 200, body: 'hello from busybox\n' });
  });

  it('stops its container after the idle timeout', async () => {
    const rows = await waitFor('idle stop', () => machineRows(appId), (list) => list.length === 1 && list[0]!.status === 'stopped');
    expect(rows[0]!.status).toBe('stopped');
    expect(harness.runner.routes.ready('sleepy')).toEqual([]);
  });

  it('keeps the stopped container root and network namespace', async () => {
    const [row] = await machineRows(appId);
    expect(await harness.runner.machines.ofApp(appId)[0]?.readExitCode()).not.toBeNull();
    expect(harness.runner.machines.ofApp(appId).map((machine) => machine.id)).toEqual([row!.id]);
  });

  it('starts the stopped container again for the next request', async () => {
    const [before] = await machineRows(appId);
    const response = await harness.get('sleepy');
    expect(response).toMatchObject({ status: 200, body: 'hello from busybox\n' });
    const [after] = await machineRows(appId);
    expect(after!.id).toBe(before!.id);
    expect(after!.status).toBe('running');
  });

  it('starts one container for many requests that arrive at once', async () => {
    await waitFor('idle stop', () => machineRows(appId), (list) => list[0]?.status === 'stopped');
    const responses = await Promise.all(Array.from({ length: 8 }, () => harness.get('sleepy')));
    expect(responses.map((response) => response.status)).toEqual(Array(8).fill(200));
    expect(await machineRows(appId)).toHaveLength(1);
  });

  it('stays up while a client connection for it is open', async () => {
    const socket = net.connect(harness.runner.ingressPort, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: sleepy.localhost\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));

    await new Promise((resolve) => setTimeout(resolve, 2500));
    await harness.runner.scaler.scaleOnce();
    const [whileOpen] = await machineRows(appId);
    socket.destroy();
    expect(whileOpen!.status).toBe('running');
    await waitFor('idle stop after the connection closed', () => machineRows(appId), (list) => list[0]?.status === 'stopped');
  });
});

describe('an app that cannot start', () => {
  it('answers 404 for an app that does not exist', async () => {
    expect((await harness.get('no-such-app')).status).toBe(404);
  });

  it('answers 503 with Retry-After for an app without a release', async () => {
    await harness.createApp('unreleased');
    const response = await harness.get('unreleased');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.body).toContain('no release');
  });
});

describe('an app with min 1', () => {
  it('keeps one container running past the idle timeout', async () => {
    const appId = await harness.createApp('awake', { min: 1, idleTimeoutS: 1 });
    const deploy = await harness.deploy('awake', image);
    expect(deploy.status).toBe('succeeded');

    await new Promise((resolve) => setTimeout(resolve, 2500));
    await harness.runner.scaler.scaleOnce();
    const rows = await machineRows(appId);
    expect(rows.map((row) => row.status)).toEqual(['running']);
  });

  it('gets a container again after it is scaled from 0 to 1 through the API', async () => {
    const appId = await harness.createApp('woken', { idleTimeoutS: 1 });
    expect((await harness.deploy('woken', image)).status).toBe('succeeded');
    await waitFor('idle stop', () => machineRows(appId), (list) => list[0]?.status === 'stopped');

    const response = await harness.api('PUT', '/v1/apps/woken/scale', { min: 1 });
    expect(response.status).toBe(200);
    const rows = await waitFor('start for min 1', () => machineRows(appId), (list) => list[0]?.status === 'running');
    expect(rows).toHaveLength(1);
  });
});
