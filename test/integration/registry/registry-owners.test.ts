import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { basicAuth, inProcessSender, registryError, type Send } from './support/registry-client.ts';
import { imageConfig, makeLayer, pushImage, type LayerFile, type PushedImage } from './support/test-images.ts';

/**
 * Two owners share one registry and one blob store: alice's app `shop` and bob's app
 * `blog`. Bob has the digests of alice's image (from a log or a pull output, say) and
 * tries every way to read or reuse it.
 */
let api: ApiHarness;
let scratch: string;
let aliceToken: string;
let bobToken: string;
let asAlice: Send;
let asBob: Send;
let aliceLayer: LayerFile;
let aliceImage: PushedImage;
let registryHost: string;

async function tokenFor(owner: string): Promise<string> {
  const response = await api.request('POST', '/v1/tokens', { json: { owner } });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

beforeAll(async () => {
  api = await startApiHarness('registry_owners');
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-registry-owners-'));
  registryHost = `127.0.0.1:${api.deps.config.apiPort}`;
  [aliceToken, bobToken] = [await tokenFor('alice'), await tokenFor('bob')];
  asAlice = inProcessSender(api.app, basicAuth(aliceToken));
  asBob = inProcessSender(api.app, basicAuth(bobToken));
  expect((await api.request('POST', '/v1/apps', { json: { name: 'shop' }, headers: { authorization: `Bearer ${aliceToken}` } })).status).toBe(201);
  expect((await api.request('POST', '/v1/apps', { json: { name: 'blog' }, headers: { authorization: `Bearer ${bobToken}` } })).status).toBe(201);

  aliceLayer = await makeLayer(scratch, 'alice', async (root) => writeFile(path.join(root, 'secret.txt'), 'alice only\n'));
  aliceImage = await pushImage(asAlice, 'shop', 'build-1', [aliceLayer], imageConfig([aliceLayer]));
});

afterAll(async () => {
  await api?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe("another owner's app repository", () => {
  it('is unknown to a pull of its manifest', async () => {
    const response = await asBob('GET', '/v2/shop/manifests/build-1');

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('NAME_UNKNOWN');
  });

  it('is unknown to a push', async () => {
    const response = await asBob('POST', '/v2/shop/blobs/uploads/');

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('NAME_UNKNOWN');
  });

  it('is unknown to a bearer token that names it in its scope', async () => {
    const query = new URLSearchParams({ service: 'slipway-registry', scope: 'repository:shop:pull' });
    const issued = await inProcessSender(api.app)('GET', `/v2/token?${query.toString()}`, { headers: { authorization: basicAuth(bobToken) } });
    const { token } = (await issued.json()) as { token: string };

    const response = await inProcessSender(api.app, `Bearer ${token}`)('GET', '/v2/shop/manifests/build-1');

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('NAME_UNKNOWN');
  });

  it('is left out of the catalog', async () => {
    const response = await asBob('GET', '/v2/_catalog');

    expect(((await response.json()) as { repositories: string[] }).repositories).toEqual(['blog']);
  });
});

describe("a blob of another owner's image", () => {
  it('is unknown under the reader’s own repository', async () => {
    const response = await asBob('GET', `/v2/blog/blobs/${aliceLayer.digest}`);

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('BLOB_UNKNOWN');
  });

  it('is not mounted into the reader’s repository', async () => {
    const response = await asBob('POST', `/v2/blog/blobs/uploads/?mount=${aliceLayer.digest}&from=shop`);

    expect(response.status).toBe(202);
  });

  it('stays readable by its owner', async () => {
    const response = await asAlice('GET', `/v2/shop/blobs/${aliceLayer.digest}`);

    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(aliceLayer.bytes)).toBe(true);
  });

  it('is readable by the other owner once pushed to their own repository', async () => {
    const layer = await makeLayer(scratch, 'bob', async (root) => writeFile(path.join(root, 'post.txt'), 'bob\n'));
    await pushImage(asBob, 'blog', 'build-1', [layer, aliceLayer], imageConfig([layer, aliceLayer]));

    expect((await asBob('GET', `/v2/blog/blobs/${aliceLayer.digest}`)).status).toBe(200);
    expect((await asBob('GET', '/v2/blog/manifests/build-1', { headers: { accept: MediaType.ociManifest } })).status).toBe(200);
  });
});

describe('a shared image name', () => {
  it('refuses a push by an owner with the fix', async () => {
    const response = await asBob('POST', '/v2/docker.io/library/debian/blobs/uploads/');

    expect(response.status).toBe(403);
    const error = await registryError(response);
    expect(error.code).toBe('DENIED');
    expect(error.message).toContain('push to one of your apps');
  });
});

describe("deploying another owner's image", () => {
  function deployToBlog(image: string): Promise<Response> {
    return api.request('POST', '/v1/apps/blog/releases', { json: { image }, headers: { authorization: `Bearer ${bobToken}` } });
  }

  it.each([
    ['by tag from their app', () => `${registryHost}/shop:build-1`],
    ['by digest from their app', () => `${registryHost}/shop@${aliceImage.digest}`],
    ['by digest under the deployer’s app', () => `${registryHost}/blog@${aliceImage.digest}`],
    ['by digest under an image name', () => `library/anything@${aliceImage.digest}`],
  ])('is refused %s as an unknown image', async (_case, image) => {
    const response = await deployToBlog(image());

    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('IMAGE_NOT_FOUND');
  });
});
