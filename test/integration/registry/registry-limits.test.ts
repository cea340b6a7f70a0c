import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../../shared/oci/digest.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { basicAuth, inProcessSender, registryError, type Send } from './support/registry-client.ts';

const LIMIT = 1024;

let api: ApiHarness;
let send: Send;

beforeAll(async () => {
  api = await startApiHarness('registry_limits', { SLIPWAY_REGISTRY_MAX_BLOB_BYTES: String(LIMIT) });
  send = inProcessSender(api.app, basicAuth(api.token));
  expect((await api.request('POST', '/v1/apps', { json: { name: 'web' } })).status).toBe(201);
});

afterAll(async () => {
  await api?.close();
});

describe('a blob over SLIPWAY_REGISTRY_MAX_BLOB_BYTES', () => {
  it('is rejected in one request with 413, naming the setting, and not stored', async () => {
    const bytes = randomBytes(LIMIT + 1);
    const digest = sha256Digest(bytes);

    const response = await send('POST', `/v2/web/blobs/uploads/?digest=${digest}`, { body: bytes });

    expect(response.status).toBe(413);
    const error = await registryError(response);
    expect(error.code).toBe('SIZE_INVALID');
    expect(error.message).toContain('SLIPWAY_REGISTRY_MAX_BLOB_BYTES');
    expect(await api.deps.blobs.stat(digest)).toBeNull();
  });

  it('is rejected chunk by chunk, and the upload keeps what it had', async () => {
    const bytes = randomBytes(LIMIT);
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;
    expect((await send('PATCH', location, { body: bytes.subarray(0, 600) })).status).toBe(202);

    const over = await send('PATCH', location, { body: randomBytes(600) });

    expect(over.status).toBe(413);
    expect((await send('GET', location)).headers.get('range')).toBe('0-599');
    expect((await send('PATCH', location, { body: bytes.subarray(600) })).status).toBe(202);
    expect((await send('PUT', `${location}?digest=${sha256Digest(bytes)}`)).status).toBe(201);
  });
});
