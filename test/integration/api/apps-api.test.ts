import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';

let api: ApiHarness;

beforeAll(async () => {
  api = await startApiHarness('apps_api', { SLIPWAY_DOMAIN: 'apps.test', SLIPWAY_HTTP_PORT: '8080' });
});

afterAll(async () => {
  await api?.close();
});

describe('authentication', () => {
  it('rejects a request without a token with 401', async () => {
    const response = await api.request('GET', '/v1/apps', { headers: { authorization: '' } });
    expect(response.status).toBe(401);
    expect((await response.json()).error.code).toBe('UNAUTHORIZED');
  });

  it('rejects a wrong token with 401', async () => {
    const response = await api.request('GET', '/v1/apps', { headers: { authorization: 'Bearer swt_wrong' } });
    expect(response.status).toBe(401);
  });

  it('serves /healthz without a token', async () => {
    const response = await api.app.request('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', checks: { database: 'ok', redis: 'ok', blobStore: 'ok' } });
  });
});

describe('apps', () => {
  it('creates an app and returns its URL', async () => {
    const response = await api.request('POST', '/v1/apps', { json: { name: 'hello' } });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ name: 'hello', url: 'http://hello.apps.test:8080/' });
  });

  it('rejects a taken name with 409', async () => {
    await api.request('POST', '/v1/apps', { json: { name: 'taken' } });
    const response = await api.request('POST', '/v1/apps', { json: { name: 'taken' } });
    expect(response.status).toBe(409);
    expect((await response.json()).error.code).toBe('APP_NAME_TAKEN');
  });

  it.each(['', 'Hello', '-start', 'end-', 'a_b', 'a.b', 'x'.repeat(64), 'ünicode'])('rejects the name %j with 400', async (name) => {
    const response = await api.request('POST', '/v1/apps', { json: { name } });
    expect(response.status).toBe(400);
    const body = await response.json();
    expect(body.error.code).toBe('APP_NAME_INVALID');
    expect(body.error.message).toContain(JSON.stringify(name));
  });

  it.each(['a', '0', 'a-b', 'x'.repeat(63)])('accepts the name %j', async (name) => {
    const response = await api.request('POST', '/v1/apps', { json: { name } });
    expect(response.status).toBe(201);
  });

  it('rejects a body that is not JSON', async () => {
    const response = await api.request('POST', '/v1/apps', { body: 'name=x', headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('BODY_INVALID_JSON');
  });

  it('shows a new app with status new and no release', async () => {
    await api.request('POST', '/v1/apps', { json: { name: 'fresh' } });
    const response = await api.request('GET', '/v1/apps/fresh');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ name: 'fresh', status: 'new', release: null, url: 'http://fresh.apps.test:8080/' });
  });

  it('lists apps by name', async () => {
    const response = await api.request('GET', '/v1/apps');
    const names = ((await response.json()).apps as { name: string }[]).map((app) => app.name);
    expect(names).toContain('hello');
    expect(names).toEqual([...names].sort());
  });

  it('answers 404 for an unknown app', async () => {
    const response = await api.request('GET', '/v1/apps/nope');
    expect(response.status).toBe(404);
    const body = await response.json();
    expect(body.error.code).toBe('APP_NOT_FOUND');
    expect(body.error.message).toContain('"nope"');
  });

  it('deletes an app, after which it is not found', async () => {
    await api.request('POST', '/v1/apps', { json: { name: 'doomed' } });
    expect((await api.request('DELETE', '/v1/apps/doomed')).status).toBe(204);
    expect((await api.request('GET', '/v1/apps/doomed')).status).toBe(404);
  });

  it('answers 404 when deleting an unknown app', async () => {
    expect((await api.request('DELETE', '/v1/apps/never-was')).status).toBe(404);
  });
});

describe('app settings', () => {
  beforeAll(async () => {
    await api.request('POST', '/v1/apps', { json: { name: 'configured' } });
  });

  it('stores the environment for the next release', async () => {
    const response = await api.request('PUT', '/v1/apps/configured/env', { json: { GREETING: 'hi', PORT: '5000' } });
    expect(response.status).toBe(200);
    const stored = await (await api.request('GET', '/v1/apps/configured/env')).json();
    expect(stored.env).toEqual({ GREETING: 'hi', PORT: '5000' });
  });

  it('accepts the environment in the shape GET returns', async () => {
    const response = await api.request('PUT', '/v1/apps/configured/env', { json: { env: { MODE: 'wrapped' } } });
    expect(response.status).toBe(200);
    const stored = await (await api.request('GET', '/v1/apps/configured/env')).json();
    expect(stored.env).toEqual({ MODE: 'wrapped' });
  });

  it.each([['1ABC'], ['A-B'], ['']])('rejects the variable name %j', async (name) => {
    const response = await api.request('PUT', '/v1/apps/configured/env', { json: { [name]: 'x' } });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('ENV_NAME_INVALID');
  });

  it('rejects a non-string value', async () => {
    const response = await api.request('PUT', '/v1/apps/configured/env', { json: { A: 1 } });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('BODY_INVALID');
  });

  it('declares a volume', async () => {
    const response = await api.request('POST', '/v1/apps/configured/volumes', { json: { name: 'data', path: '/data/' } });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ name: 'data', path: '/data' });
  });

  it('rejects a second volume at the same path with 409', async () => {
    const response = await api.request('POST', '/v1/apps/configured/volumes', { json: { name: 'other', path: '/data' } });
    expect(response.status).toBe(409);
    expect((await response.json()).error.code).toBe('VOLUME_EXISTS');
  });

  it.each([
    ['relative', 'data', 'VOLUME_PATH_INVALID'],
    ['root', '/', 'VOLUME_PATH_RESERVED'],
    ['proc', '/proc/x', 'VOLUME_PATH_RESERVED'],
  ])('rejects a %s volume path', async (_case, volumePath, code) => {
    const response = await api.request('POST', '/v1/apps/configured/volumes', { json: { name: 'v', path: volumePath } });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe(code);
  });

  it('lists no releases for an app never deployed', async () => {
    const response = await api.request('GET', '/v1/apps/configured/releases');
    expect(await response.json()).toEqual({ releases: [] });
  });
});
