import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryTokenSigner } from '../../../api/registry/registry-tokens.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { basicAuth, inProcessSender, registryError, type Send } from './support/registry-client.ts';

let api: ApiHarness;
let anonymous: Send;

beforeAll(async () => {
  api = await startApiHarness('registry_auth');
  anonymous = inProcessSender(api.app);
  for (const name of ['web', 'other']) expect((await api.request('POST', '/v1/apps', { json: { name } })).status).toBe(201);
});

afterAll(async () => {
  await api?.close();
});

async function fetchToken(scopes: string[], authorization = basicAuth(api.token)): Promise<Response> {
  const query = new URLSearchParams({ service: 'slipway-registry' });
  for (const scope of scopes) query.append('scope', scope);
  return anonymous('GET', `/v2/token?${query.toString()}`, { headers: { authorization } });
}

async function bearer(scopes: string[]): Promise<string> {
  const response = await fetchToken(scopes);
  expect(response.status).toBe(200);
  return `Bearer ${((await response.json()) as { token: string }).token}`;
}

describe('version check', () => {
  it('challenges a request without credentials', async () => {
    const response = await anonymous('GET', '/v2/');

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="http://localhost/v2/token",service="slipway-registry"');
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect((await registryError(response)).code).toBe('UNAUTHORIZED');
  });

  it('accepts basic auth with any user and the API token', async () => {
    const response = await anonymous('GET', '/v2/', { headers: { authorization: basicAuth(api.token, 'whoever') } });

    expect(response.status).toBe(200);
    expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('accepts the API token as a bearer token', async () => {
    const response = await anonymous('GET', '/v2/', { headers: { authorization: `Bearer ${api.token}` } });

    expect(response.status).toBe(200);
  });

  it.each([
    ['basic auth with a wrong token', basicAuth('swt_not-a-real-token')],
    ['a bearer token that was never issued', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl'],
    ['an unknown scheme', 'Digest username="x"'],
  ])('rejects %s with invalid_token', async (_case, authorization) => {
    const response = await anonymous('GET', '/v2/', { headers: { authorization } });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await registryError(response)).code).toBe('UNAUTHORIZED');
  });

  it('names the pull scope of a repository in its challenge', async () => {
    const response = await anonymous('GET', '/v2/web/manifests/latest');

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="http://localhost/v2/token",service="slipway-registry",scope="repository:web:pull"');
  });

  it('names pull and push in the challenge of an upload', async () => {
    const response = await anonymous('POST', '/v2/web/blobs/uploads/');

    expect(response.headers.get('www-authenticate')).toContain('scope="repository:web:pull,push"');
  });

  it('builds the realm from the forwarded protocol and the Host header', async () => {
    const response = await anonymous('GET', '/v2/', { headers: { host: 'registry.example.test', 'x-forwarded-proto': 'https' } });

    expect(response.headers.get('www-authenticate')).toContain('realm="https://registry.example.test/v2/token"');
  });
});

describe('token endpoint', () => {
  it('issues a token for basic credentials', async () => {
    const response = await fetchToken(['repository:web:pull']);

    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string; access_token: string; expires_in: number };
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBe(300);
  });

  it('challenges for basic credentials when none are sent', async () => {
    const response = await anonymous('GET', '/v2/token?scope=repository:web:pull');

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="slipway-registry"');
  });

  it('rejects a wrong API token', async () => {
    const response = await fetchToken(['repository:web:pull'], basicAuth('swt_wrong'));

    expect(response.status).toBe(401);
  });

  it('issues a token for the OAuth2 password grant', async () => {
    const form = new URLSearchParams({ grant_type: 'password', username: 'x', password: api.token, service: 'slipway-registry', scope: 'repository:web:pull' });
    const response = await anonymous('POST', '/v2/token', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

    expect(response.status).toBe(200);
    const token = ((await response.json()) as { access_token: string }).access_token;
    expect((await anonymous('GET', '/v2/web/tags/list', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('rejects a refresh token grant', async () => {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', service: 'slipway-registry' });
    const response = await anonymous('POST', '/v2/token', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });

    expect(response.status).toBe(400);
  });

  it('keeps its signing key readable by root alone', async () => {
    await fetchToken([]);

    expect((await stat(path.join(api.dataDir, 'registry-token-key'))).mode & 0o777).toBe(0o600);
  });
});

describe('bearer tokens', () => {
  it('grants what their scope names', async () => {
    const response = await anonymous('GET', '/v2/web/tags/list', { headers: { authorization: await bearer(['repository:web:pull']) } });

    expect(response.status).toBe(200);
  });

  it('are refused for another repository', async () => {
    const response = await anonymous('GET', '/v2/other/tags/list', { headers: { authorization: await bearer(['repository:web:pull']) } });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('are refused for a push when they grant pull only', async () => {
    const response = await anonymous('POST', '/v2/web/blobs/uploads/', { headers: { authorization: await bearer(['repository:web:pull']) } });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('scope="repository:web:pull,push"');
  });

  it('allow a push when they grant pull and push', async () => {
    const response = await anonymous('POST', '/v2/web/blobs/uploads/', { headers: { authorization: await bearer(['repository:web:pull,push']) } });

    expect(response.status).toBe(202);
  });

  it('allow the catalog only with its registry scope', async () => {
    const without = await anonymous('GET', '/v2/_catalog', { headers: { authorization: await bearer(['repository:web:pull']) } });
    const withScope = await anonymous('GET', '/v2/_catalog', { headers: { authorization: await bearer(['registry:catalog:*']) } });

    expect(without.status).toBe(401);
    expect(withScope.status).toBe(200);
  });

  it('are refused once expired', async () => {
    const signer = await RegistryTokenSigner.open(api.dataDir);
    const expired = signer.issue({ tokenId: 'some-token-id', owner: 'admin' }, [{ type: 'repository', name: 'web', actions: ['pull'] }], Date.now() - 60 * 60 * 1000);

    const response = await anonymous('GET', '/v2/web/tags/list', { headers: { authorization: `Bearer ${expired.token}` } });

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('are refused when their claims were changed', async () => {
    const [header, , signature] = (await bearer(['repository:web:pull'])).slice('Bearer '.length).split('.');
    const claims = Buffer.from(JSON.stringify({ sub: 'x', aud: 'slipway-registry', exp: 9_999_999_999, access: [{ type: 'repository', name: 'other', actions: ['pull'] }] })).toString('base64url');

    const response = await anonymous('GET', '/v2/other/tags/list', { headers: { authorization: `Bearer ${header}.${claims}.${signature}` } });

    expect(response.status).toBe(401);
  });
});
