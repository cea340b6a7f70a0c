import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploys, releases } from '../../../shared/db/schema.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

let harness: RunnerHarness;
let appId: string;
let firstImage: string;

beforeAll(async () => {
  harness = await startRunnerHarness('rollback');
  appId = await harness.createApp('rolling', { healthCheck: { type: 'http', path: '/healthz', intervalS: 1, timeoutS: 1, retries: 1 } });
  firstImage = await harness.image({ files: { 'www/index.html': 'first\n', 'www/healthz': 'ok\n' } });
  expect((await harness.deploy('rolling', firstImage)).status).toBe('succeeded');
  await harness.deps.db.update(releases).set({ env: { GREETING: 'from v1' } }).where(and(eq(releases.appId, appId), eq(releases.version, 1)));
  const second = await harness.image({ files: { 'www/index.html': 'second\n', 'www/healthz': 'ok\n' } });
  expect((await harness.deploy('rolling', second)).status).toBe('succeeded');
  const broken = await harness.image({ files: { 'www/index.html': 'broken\n' } });
  expect((await harness.deploy('rolling', broken)).status).toBe('failed');
});

afterAll(async () => {
  await harness?.close();
});

async function release(version: number) {
  const [row] = await harness.deps.db.select().from(releases).where(and(eq(releases.appId, appId), eq(releases.version, version)));
  return row!;
}

describe('rollback', () => {
  let body: { release: { version: string; source: string; rolledBackTo: string; imageDigest: string }; deploy: { id: string } };

  it('answers 202 with a new release and a deploy', async () => {
    expect((await harness.get('rolling')).body).toBe('second\n');
    const response = await harness.api('POST', '/v1/apps/rolling/rollback', { release: 'v1' });
    expect(response.status).toBe(202);
    body = await response.json();
    expect(body.release).toMatchObject({ version: 'v4', source: 'rollback', rolledBackTo: 'v1', imageDigest: firstImage });
  });

  it('rolls the app out onto the earlier image without a build', async () => {
    const deploy = await waitFor(
      'rollback deploy',
      async () => (await harness.deps.db.select().from(deploys).where(eq(deploys.id, body.deploy.id)))[0]!,
      (row) => row.status === 'succeeded' || row.status === 'failed',
    );
    expect(deploy.status, JSON.stringify(deploy.error)).toBe('succeeded');
    expect(deploy.buildId).toBeNull();
    expect((await harness.get('rolling')).body).toBe('first\n');
  });

  it("gives the new release the earlier release's environment", async () => {
    expect((await release(4)).env).toEqual({ GREETING: 'from v1' });
    expect((await release(4)).status).toBe('active');
  });

  it('shows its deploy through the deploys API', async () => {
    const deploy = await (await harness.api('GET', `/v1/deploys/${body.deploy.id}`)).json();
    expect(deploy).toMatchObject({ status: 'succeeded', build: null, release: { version: 'v4' } });
  });

  it.each([
    [{ release: 'v9' }, 404, 'RELEASE_NOT_FOUND'],
    [{ release: 'v3' }, 409, 'ROLLBACK_TARGET_INVALID'],
    [{ release: 'latest' }, 400, 'RELEASE_INVALID'],
    [{}, 400, 'BODY_INVALID'],
  ])('rejects %j', async (request, status, code) => {
    const response = await harness.api('POST', '/v1/apps/rolling/rollback', request);
    expect(response.status).toBe(status);
    expect((await response.json()).error.code).toBe(code);
  });
});
