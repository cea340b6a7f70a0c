import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runc } from '../../../shared/container/runc.ts';
import { machines } from '../../../shared/db/schema.ts';
import { runCommand } from '../../../shared/process/run-command.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

let harness: RunnerHarness;
let runc: Runc;
let image: string;

beforeAll(async () => {
  harness = await startRunnerHarness('restart');
  runc = new Runc({ stateDir: path.join(harness.config.dataDir, 'runc') });
  image = await harness.image();
});

afterAll(async () => {
  await harness?.close();
});

async function machineRows(appId: string) {
  return harness.deps.db.select().from(machines).where(eq(machines.appId, appId));
}

async function namespaces(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).filter((name) => name.startsWith(`${harness.config.bridgeName}-`));
}

describe('a runner restart', () => {
  let appId: string;
  let machineId: string;
  let pid: number;

  it('leaves the running container running', async () => {
    appId = await harness.createApp('survivor', { min: 1 });
    expect((await harness.deploy('survivor', image)).status).toBe('succeeded');
    machineId = (await machineRows(appId))[0]!.id;
    pid = (await runc.state(machineId))!.pid;

    await harness.runner.close();
    expect(await runc.state(machineId)).toMatchObject({ status: 'running', pid });
  });

  it('adopts the container instead of starting a new one', async () => {
    await harness.restartRunner();
    expect(harness.runner.machines.all().map((machine) => machine.id)).toEqual([machineId]);
    expect((await runc.state(machineId))!.pid).toBe(pid);
    expect(await harness.get('survivor')).toMatchObject({ status: 200, body: 'hello from busybox\n' });
  });

  it('restarts an adopted container whose process ended while no runner watched', async () => {
    await harness.runner.close();
    process.kill(pid, 'SIGKILL');
    await waitFor('exit code file', () => readFile(path.join(harness.config.dataDir, 'machines', machineId, 'exit-code'), 'utf8').catch(() => ''), (text) => text.trim() !== '');

    await harness.restartRunner();
    const rows = await waitFor('restart', () => machineRows(appId), (list) => list[0]?.status === 'running' && list[0].restarts === 1);
    expect(rows[0]!.id).toBe(machineId);
    expect(rows[0]!.lastExit).toMatchObject({ exitCode: 137, reason: 'exited' });
    expect((await harness.get('survivor')).status).toBe(200);
  });

  it('keeps a stopped container for the next request', async () => {
    const sleepyId = await harness.createApp('dozing', { idleTimeoutS: 1 });
    expect((await harness.deploy('dozing', image)).status).toBe('succeeded');
    const [stopped] = await waitFor('idle stop', () => machineRows(sleepyId), (list) => list[0]?.status === 'stopped');

    await harness.restartRunner();
    expect(harness.runner.machines.ofApp(sleepyId).map((machine) => machine.status)).toEqual(['stopped']);
    expect((await harness.get('dozing')).status).toBe(200);
    expect((await machineRows(sleepyId))[0]!.id).toBe(stopped!.id);
  });

  it('removes a half-made machine: a folder without a record and its network namespace', async () => {
    const halfMade = 'm-0123456789ab';
    await mkdir(path.join(harness.config.dataDir, 'machines', halfMade, 'rootfs'), { recursive: true });
    await runCommand('ip', ['netns', 'add', `${harness.config.bridgeName}-${halfMade}`]);

    await harness.restartRunner();
    expect(await readdir(path.join(harness.config.dataDir, 'machines'))).not.toContain(halfMade);
    expect(await namespaces()).not.toContain(`${harness.config.bridgeName}-${halfMade}`);
    expect(harness.runner.machines.all().map((machine) => machine.id)).not.toContain(halfMade);
  });

  it('removes a machine whose row says it was still starting', async () => {
    const appIdStarting = await harness.createApp('interrupted', { min: 1 });
    expect((await harness.deploy('interrupted', image)).status).toBe('succeeded');
    const [row] = await machineRows(appIdStarting);
    await harness.runner.close();
    await harness.deps.db.update(machines).set({ status: 'starting' }).where(eq(machines.id, row!.id));

    await harness.restartRunner();
    expect(await runc.state(row!.id)).toBeNull();
    expect(await namespaces()).not.toContain(`${harness.config.bridgeName}-${row!.id}`);
    const rows = await waitFor('a new machine for min 1', () => machineRows(appIdStarting), (list) => list.length === 1 && list[0]!.status === 'running');
    expect(rows[0]!.id).not.toBe(row!.id);
  });
});
