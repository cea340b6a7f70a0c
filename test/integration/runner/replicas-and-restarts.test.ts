import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apps, machines, volumes } from '../../../shared/db/schema.ts';
import { startRunnerHarness, type RunnerHarness } from './support/runner-harness.ts';
import { waitFor } from './support/wait-for.ts';

let harness: RunnerHarness;

beforeAll(async () => {
  harness = await startRunnerHarness('replicas');
});

afterAll(async () => {
  await harness?.close();
});

/** A CGI script that responds after a second with the container's host name, which is its machine id. */
const SLOW_CGI = "#!/bin/sh\nsleep 1\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nhostname\n";

async function machineRows(appId: string) {
  return harness.deps.db.select().from(machines).where(eq(machines.appId, appId));
}

describe('an app with concurrency 1 and max 3', () => {
  let appId: string;

  it('starts more containers while every one is busy', async () => {
    appId = await harness.createApp('busy', { max: 3, concurrency: 1 });
    const image = await harness.image({ files: { 'www/cgi-bin/slow': SLOW_CGI }, executables: ['www/cgi-bin/slow'] });
    expect((await harness.deploy('busy', image)).status).toBe('succeeded');

    const answeredBy = new Set<string>();
    for (let round = 0; round < 4 && answeredBy.size < 2; round += 1) {
      const responses = await Promise.all(Array.from({ length: 3 }, () => harness.get('busy', '/cgi-bin/slow')));
      for (const response of responses) {
        expect(response.status).toBe(200);
        answeredBy.add(response.body.trim());
      }
    }
    expect(answeredBy.size).toBeGreaterThan(1);
  });

  it('never runs more than max containers', async () => {
    await Promise.all(Array.from({ length: 10 }, () => harness.get('busy', '/cgi-bin/slow')));
    expect((await machineRows(appId)).length).toBeLessThanOrEqual(3);
  });
});

describe('an app with a volume', () => {
  it('rejects max above 1 unless scaling with the volume is allowed', async () => {
    const appId = await harness.createApp('stateful');
    await harness.deps.db.insert(volumes).values({ appId, name: 'data', path: '/data' });
    const response = await harness.api('PUT', '/v1/apps/stateful/scale', { max: 2 });
    expect(response.status).toBe(409);
    expect((await response.json()).error.code).toBe('SCALE_WITH_VOLUME');
  });

  it('runs one container under load even when max says more', async () => {
    const [app] = await harness.deps.db.update(apps).set({ maxMachines: 3, concurrency: 1 }).where(eq(apps.name, 'stateful')).returning();
    const image = await harness.image({ files: { 'www/cgi-bin/slow': SLOW_CGI }, executables: ['www/cgi-bin/slow'] });
    expect((await harness.deploy('stateful', image)).status).toBe('succeeded');

    await Promise.all(Array.from({ length: 6 }, () => harness.get('stateful', '/cgi-bin/slow')));
    expect(await machineRows(app!.id)).toHaveLength(1);
  });

  it('accepts max above 1 with allow_scale_with_volume', async () => {
    const response = await harness.api('PUT', '/v1/apps/stateful/scale', { max: 2, allow_scale_with_volume: true });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ min: 0, max: 2, concurrency: 1, idle_timeout_s: 300, allow_scale_with_volume: true });
  });
});

describe('the scale API', () => {
  it('changes only the fields it is given', async () => {
    await harness.createApp('tuned');
    const response = await harness.api('PUT', '/v1/apps/tuned/scale', { concurrency: 10, idle_timeout_s: 60 });
    expect(await response.json()).toEqual({ min: 0, max: 1, concurrency: 10, idle_timeout_s: 60, allow_scale_with_volume: false });
    expect(await (await harness.api('GET', '/v1/apps/tuned/scale')).json()).toMatchObject({ concurrency: 10, idle_timeout_s: 60 });
  });

  it.each([
    [{ min: 3, max: 2 }, 'SCALE_INVALID'],
    [{ min: -1 }, 'BODY_INVALID'],
    [{ concurrency: 0 }, 'BODY_INVALID'],
    [{ idle_timeout_s: 1.5 }, 'BODY_INVALID'],
    [{ replicas: 2 }, 'BODY_INVALID'],
  ])('rejects %j', async (body, code) => {
    const response = await harness.api('PUT', '/v1/apps/tuned/scale', body);
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe(code);
  });

  it('answers 404 for an unknown app', async () => {
    expect((await harness.api('PUT', '/v1/apps/nobody/scale', { min: 1 })).status).toBe(404);
  });
});

describe('a container that keeps crashing', () => {
  it('restarts with backoff and reports its exit', async () => {
    const appId = await harness.createApp('crashy', { min: 1 });
    const image = await harness.image({ cmd: ['sh', '-c', 'echo booting; httpd -f -p 8080 -h /www & sleep 1; echo "fatal: lost the database" >&2; exit 3'] });
    expect((await harness.deploy('crashy', image)).status).toBe('succeeded');

    const rows = await waitFor('two restarts', () => machineRows(appId), (list) => (list[0]?.restarts ?? 0) >= 2);
    expect(rows).toHaveLength(1);

    const status = await (await harness.api('GET', '/v1/apps/crashy')).json();
    expect(status.machines[0].lastExit).toMatchObject({ exitCode: 3, reason: 'exited' });
    expect(status.machines[0].lastExit.logTail).toEqual(expect.arrayContaining(['booting', 'fatal: lost the database']));
    expect(status.machines[0].restarts).toBeGreaterThanOrEqual(2);
  });

  it('shows as crashed while it waits for its next restart', async () => {
    const status = await waitFor(
      'crashed status',
      async () => (await harness.api('GET', '/v1/apps/crashy')).json(),
      (body) => body.status === 'crashed',
    );
    expect(status.machines[0].status).toBe('failed');
  });
});
