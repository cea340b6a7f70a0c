import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machines, releases } from '../../../shared/db/schema.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

const execFileAsync = promisify(execFile);
const SECOND_NS = 1e9;

let harness: RunnerHarness;

beforeAll(async () => {
  harness = await startRunnerHarness('health');
});

afterAll(async () => {
  await harness?.close();
});

async function releaseRow(appId: string, version: number) {
  const [row] = await harness.deps.db.select().from(releases).where(and(eq(releases.appId, appId), eq(releases.version, version)));
  return row!;
}

describe('an app health check over HTTP', () => {
  let appId: string;

  it('lets a release take traffic once its path answers 200', async () => {
    appId = await harness.createApp('checked', { healthCheck: { type: 'http', path: '/healthz', intervalS: 1, timeoutS: 1, retries: 2 } });
    const image = await harness.image({ files: { 'www/index.html': 'v1\n', 'www/healthz': 'ok\n' } });
    const deploy = await harness.deploy('checked', image);
    expect(deploy.status, JSON.stringify(deploy.error)).toBe('succeeded');
    expect((await harness.get('checked')).body).toBe('v1\n');
  });

  it('fails a release whose path answers 404, with the reason', async () => {
    const image = await harness.image({ files: { 'www/index.html': 'v2\n' } });
    const deploy = await harness.deploy('checked', image);
    expect(deploy.status).toBe('failed');
    expect(deploy.error?.code).toBe('MACHINE_UNHEALTHY');
    expect(deploy.error?.message).toContain('GET /healthz answered 404');
    expect((await releaseRow(appId, 2)).status).toBe('failed');
  });

  it('keeps the old release serving after the failed one', async () => {
    expect(await harness.get('checked')).toMatchObject({ status: 200, body: 'v1\n' });
    expect((await releaseRow(appId, 1)).status).toBe('active');
  });
});

describe("an image's HEALTHCHECK", () => {
  it('holds traffic back until the command passes inside the container', async () => {
    await harness.createApp('warming');
    const image = await harness.image({
      cmd: ['sh', '-c', 'trap "exit 0" TERM; (sleep 1; touch /tmp/warm) & httpd -f -p 8080 -h /www & wait'],
      healthcheck: { Test: ['CMD-SHELL', 'test -f /tmp/warm'], Interval: 1 * SECOND_NS, Retries: 3, StartPeriod: 5 * SECOND_NS },
    });
    const deploy = await harness.deploy('warming', image);
    expect(deploy.status, JSON.stringify(deploy.error)).toBe('succeeded');
    expect((await harness.get('warming')).status).toBe(200);
  });

  it('fails a release whose command keeps failing', async () => {
    await harness.createApp('never-ready');
    const image = await harness.image({ healthcheck: { Test: ['CMD', 'false'], Interval: 1 * SECOND_NS, Retries: 2 } });
    const deploy = await harness.deploy('never-ready', image);
    expect(deploy.status).toBe('failed');
    expect(deploy.error?.message).toContain('health check failed 2 times in a row');
  });

  it('ignores a HEALTHCHECK NONE', async () => {
    await harness.createApp('unchecked');
    const image = await harness.image({ healthcheck: { Test: ['NONE'] } });
    expect((await harness.deploy('unchecked', image)).status).toBe('succeeded');
  });
});

describe('a running container that turns unhealthy', () => {
  it('is replaced by a new container of the same release', async () => {
    const appId = await harness.createApp('fragile', { min: 1 });
    const image = await harness.image({
      healthcheck: { Test: ['CMD-SHELL', 'test ! -f /tmp/sick'], Interval: 0.5 * SECOND_NS, Timeout: 2 * SECOND_NS, Retries: 2 },
    });
    expect((await harness.deploy('fragile', image)).status).toBe('succeeded');
    const [sick] = await harness.deps.db.select().from(machines).where(eq(machines.appId, appId));

    await execFileAsync('runc', ['--root', path.join(harness.config.dataDir, 'runc'), 'exec', sick!.id, 'touch', '/tmp/sick']);
    const rows = await waitFor(
      'replacement',
      () => harness.deps.db.select().from(machines).where(eq(machines.appId, appId)),
      (list) => list.length === 1 && list[0]!.id !== sick!.id && list[0]!.status === 'running',
    );
    expect(rows[0]!.lastExit).toMatchObject({ reason: 'unhealthy' });
    expect(rows[0]!.restarts).toBe(1);
    expect((await harness.get('fragile')).status).toBe(200);
  });
});

describe('the health API', () => {
  it('shows the image HEALTHCHECK as the check in effect', async () => {
    const response = await harness.api('GET', '/v1/apps/warming/health');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ health: null, effective: { source: 'image', type: 'exec', command: ['/bin/sh', '-c', 'test -f /tmp/warm'] } });
  });

  it('sets an HTTP check and shows it as the one in effect', async () => {
    const response = await harness.api('PUT', '/v1/apps/warming/health', { type: 'http', path: '/healthz', interval_s: 5 });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      health: { type: 'http', path: '/healthz', interval_s: 5, timeout_s: 2, retries: 3, start_period_s: 0 },
      effective: { source: 'app', type: 'http', path: '/healthz' },
    });
  });

  it('goes back to the image check after DELETE', async () => {
    const response = await harness.api('DELETE', '/v1/apps/warming/health');
    expect((await response.json()).effective.source).toBe('image');
  });

  it.each([
    [{ type: 'udp' }, 'BODY_INVALID'],
    [{ type: 'tcp', path: '/x' }, 'HEALTH_CHECK_INVALID'],
    [{ type: 'http', path: 'healthz' }, 'HEALTH_CHECK_INVALID'],
    [{ type: 'http', interval_s: 0 }, 'BODY_INVALID'],
  ])('rejects %j', async (body, code) => {
    const response = await harness.api('PUT', '/v1/apps/warming/health', body);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe(code);
  });
});
