import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempFolder, writeArchive } from '../../../shared/build-context/testing/archive-fixtures.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';

let api: ApiHarness;
let bobToken: string;

/** Sends a request with another owner's token. */
function asBob(method: string, url: string, json?: unknown): Promise<Response> {
  return api.request(method, url, { json, headers: { authorization: `Bearer ${bobToken}` } });
}

beforeAll(async () => {
  api = await startApiHarness('isolation_api', { SLIPWAY_API_PORT: '7071', SLIPWAY_HTTP_PORT: '8081' });
  for (const name of ['web', 'db', 'other']) expect((await api.request('POST', '/v1/apps', { json: { name } })).status).toBe(201);
  const created = await api.request('POST', '/v1/tokens', { json: { owner: 'bob' } });
  expect(created.status).toBe(201);
  bobToken = (await created.json()).token;
});

afterAll(async () => {
  await api?.close();
});

describe('owners', () => {
  it('gives an app the owner of the token that created it', async () => {
    expect((await asBob('POST', '/v1/apps', { name: 'bobs-app' })).status).toBe(201);

    const { apps } = await (await asBob('GET', '/v1/apps')).json();
    expect(apps.map((app: { name: string }) => app.name)).toEqual(['bobs-app']);
  });

  it('lists every app for an admin token', async () => {
    const { apps } = await (await api.request('GET', '/v1/apps')).json();

    expect(apps.map((app: { name: string }) => app.name)).toEqual(['bobs-app', 'db', 'other', 'web']);
  });

  it("answers 404 for another owner's app", async () => {
    const response = await asBob('GET', '/v1/apps/web');

    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('APP_NOT_FOUND');
  });

  it("keeps another owner's token from changing an app", async () => {
    const response = await asBob('PUT', '/v1/apps/web/ports', [{ host: 9999, container: 80 }]);

    expect(response.status).toBe(404);
    expect(await (await api.request('GET', '/v1/apps/web/ports')).json()).toEqual([]);
  });

  describe("another owner's deploy", () => {
    let deployId: string;
    let buildId: string;

    beforeAll(async () => {
      const scratch = await createTempFolder();
      const file = path.join(scratch.path, 'context.tar');
      await writeArchive(file, [{ name: 'Dockerfile', content: 'FROM scratch\nCMD ["true"]\n' }]);
      const response = await api.request('POST', '/v1/apps/web/deploys', { body: new Blob([await readFile(file)]), headers: { 'content-type': 'application/x-tar' } });
      await scratch.remove();
      expect(response.status).toBe(202);
      ({ id: deployId, build: { id: buildId } } = await response.json());
    });

    it.each([
      ['the deploy', () => `/v1/deploys/${deployId}`, 'DEPLOY_NOT_FOUND'],
      ['the build', () => `/v1/builds/${buildId}`, 'BUILD_NOT_FOUND'],
      ['the build output', () => `/v1/builds/${buildId}/logs`, 'BUILD_NOT_FOUND'],
    ])('answers 404 for %s, as for a missing one', async (_what, url, code) => {
      const response = await asBob('GET', url());

      expect(response.status).toBe(404);
      expect((await response.json()).error.code).toBe(code);
    });

    it('shows the deploy and its build to an admin token', async () => {
      expect((await api.request('GET', `/v1/deploys/${deployId}`)).status).toBe(200);
      expect((await api.request('GET', `/v1/builds/${buildId}`)).status).toBe(200);
    });
  });

  it('imports images only with an admin token', async () => {
    const response = await asBob('POST', '/v1/images/import?ref=debian:bookworm');

    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('ADMIN_ONLY');
  });

  it('creates tokens only with an admin token', async () => {
    const response = await asBob('POST', '/v1/tokens', { owner: 'mallory' });

    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe('ADMIN_ONLY');
  });

  it.each(['Bob', 'bob_smith', '-bob', ''])('rejects the owner name %j', async (owner) => {
    const response = await api.request('POST', '/v1/tokens', { json: { owner } });

    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('OWNER_NAME_INVALID');
  });
});

describe('published ports', () => {
  it('stores and returns the ports', async () => {
    const ports = [{ host: 15432, container: 5432 }, { host: 16379, container: 6379 }];

    const response = await api.request('PUT', '/v1/apps/db/ports', { json: ports });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(ports);
    expect(await (await api.request('GET', '/v1/apps/db/ports')).json()).toEqual(ports);
  });

  it.each([
    ['a port of 0', [{ host: 0, container: 80 }]],
    ['a port above 65535', [{ host: 70000, container: 80 }]],
    ['a fractional port', [{ host: 8000.5, container: 80 }]],
    ['a missing container port', [{ host: 8000 }]],
    ['an unknown field', [{ host: 8000, container: 80, protocol: 'udp' }]],
    ['an object instead of a list', { host: 8000, container: 80 }],
  ])('rejects %s with 400', async (_case, body) => {
    const response = await api.request('PUT', '/v1/apps/web/ports', { json: body });

    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('BODY_INVALID');
  });

  it('rejects a host port listed twice with 400', async () => {
    const response = await api.request('PUT', '/v1/apps/web/ports', { json: [{ host: 8000, container: 80 }, { host: 8000, container: 81 }] });

    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('PORT_DUPLICATE');
  });

  it.each([
    ['API', 7071],
    ['ingress', 8081],
  ])("rejects Slipway's %s port with 409", async (_what, port) => {
    const response = await api.request('PUT', '/v1/apps/web/ports', { json: [{ host: port, container: 80 }] });

    expect(response.status).toBe(409);
    expect((await response.json()).error).toMatchObject({ code: 'PORT_IN_USE', host: port });
  });

  it('rejects a port that another app publishes with 409 and names it', async () => {
    const response = await api.request('PUT', '/v1/apps/web/ports', { json: [{ host: 15432, container: 5432 }] });

    expect(response.status).toBe(409);
    expect((await response.json()).error.message).toMatch(/published by app db/);
  });

  it("does not name another owner's app that publishes the port", async () => {
    const response = await asBob('PUT', '/v1/apps/bobs-app/ports', [{ host: 15432, container: 5432 }]);

    expect(response.status).toBe(409);
    expect((await response.json()).error.message).toMatch(/published by another app/);
  });

  it('lets an app publish its own port again', async () => {
    const response = await api.request('PUT', '/v1/apps/db/ports', { json: [{ host: 15432, container: 5432 }] });

    expect(response.status).toBe(200);
  });

  it('removes every port with an empty list', async () => {
    expect((await api.request('PUT', '/v1/apps/other/ports', { json: [{ host: 18080, container: 8080 }] })).status).toBe(200);

    expect(await (await api.request('PUT', '/v1/apps/other/ports', { json: [] })).json()).toEqual([]);
  });
});

describe('limits', () => {
  it('shows the defaults for an app without limits', async () => {
    const limits = await (await api.request('GET', '/v1/apps/web/limits')).json();

    expect(limits).toEqual({
      memory_bytes: null,
      cpus: null,
      pids: null,
      defaults: { memory_bytes: 512 * 1024 ** 2, cpus: 1, pids: 1024 },
      effective: { memory_bytes: 512 * 1024 ** 2, cpus: 1, pids: 1024 },
    });
  });

  it('sets some limits and keeps the others', async () => {
    await api.request('PUT', '/v1/apps/web/limits', { json: { memory_bytes: 256 * 1024 ** 2, pids: 64 } });

    const limits = await (await api.request('PUT', '/v1/apps/web/limits', { json: { cpus: 0.5 } })).json();

    expect(limits.effective).toEqual({ memory_bytes: 256 * 1024 ** 2, cpus: 0.5, pids: 64 });
  });

  it('returns a limit to the default with null', async () => {
    const limits = await (await api.request('PUT', '/v1/apps/web/limits', { json: { pids: null } })).json();

    expect(limits.pids).toBeNull();
    expect(limits.effective.pids).toBe(1024);
  });

  it.each([
    ['memory below 16 MiB', { memory_bytes: 1024 }],
    ['no CPU', { cpus: 0 }],
    ['pids below 8', { pids: 2 }],
    ['an unknown limit', { swap_bytes: 0 }],
  ])('rejects %s', async (_case, body) => {
    const response = await api.request('PUT', '/v1/apps/web/limits', { json: body });

    expect(response.status).toBe(400);
  });
});

describe('user namespace setting', () => {
  it('is off by default', async () => {
    expect(await (await api.request('GET', '/v1/apps/web/isolation')).json()).toEqual({ user_namespace: false });
  });

  it('turns on and shows the host id range', async () => {
    const response = await api.request('PUT', '/v1/apps/web/isolation', { json: { user_namespace: true } });

    expect(await response.json()).toEqual({ user_namespace: true, host_ids: '1000000-1065535' });
  });

  it('rejects a value that is not a boolean', async () => {
    const response = await api.request('PUT', '/v1/apps/web/isolation', { json: { user_namespace: 'yes' } });

    expect(response.status).toBe(400);
  });
});
