import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apps, releases } from '../../../shared/db/schema.ts';
import { sha256Digest } from '../../../shared/oci/digest.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { basicAuth, inProcessSender, pushBlob, pushManifest, registryError, type Send } from './support/registry-client.ts';
import { imageConfig, makeLayer, pushImage, type LayerFile, type PushedImage } from './support/test-images.ts';

let api: ApiHarness;
let send: Send;
let scratch: string;
let layer: LayerFile;
let pushed: PushedImage;

beforeAll(async () => {
  api = await startApiHarness('registry_protocol');
  send = inProcessSender(api.app, basicAuth(api.token));
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-registry-protocol-'));
  for (const name of ['web', 'empty']) expect((await api.request('POST', '/v1/apps', { json: { name } })).status).toBe(201);

  layer = await makeLayer(scratch, 'hello', async (root) => writeFile(path.join(root, 'hello.txt'), 'hello from a pushed layer\n'));
  pushed = await pushImage(send, 'web', 'build-1', [layer], imageConfig([layer]));
});

afterAll(async () => {
  await api?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Records release vN of an app for a stored manifest, as a deploy would, and makes it current when asked. */
async function recordRelease(appName: string, version: number, digest: string, current: boolean): Promise<void> {
  const [app] = await api.database.db.select().from(apps).where(eq(apps.name, appName));
  const [release] = await api.database.db.insert(releases).values({ appId: app!.id, version, imageDigest: digest, env: {}, status: 'active' }).returning();
  if (current) await api.database.db.update(apps).set({ currentReleaseId: release!.id }).where(eq(apps.id, app!.id));
}

describe('pulling manifests', () => {
  it('serves a pushed manifest by tag with its bytes, media type and digest', async () => {
    const response = await send('GET', '/v2/web/manifests/build-1', { headers: { accept: MediaType.ociManifest } });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(MediaType.ociManifest);
    expect(response.headers.get('docker-content-digest')).toBe(pushed.digest);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(pushed.bytes);
  });

  it('serves a manifest by digest', async () => {
    const response = await send('GET', `/v2/web/manifests/${pushed.digest}`);

    expect(sha256Digest(Buffer.from(await response.arrayBuffer()))).toBe(pushed.digest);
  });

  it('answers HEAD with the headers and no body', async () => {
    const response = await send('HEAD', '/v2/web/manifests/build-1');

    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(pushed.bytes.length));
    expect(response.headers.get('docker-content-digest')).toBe(pushed.digest);
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves the current release as latest and each release as vN', async () => {
    const second = await pushImage(send, 'web', 'build-2', [layer], imageConfig([layer], { config: { Cmd: ['echo', 'two'] } }));
    await recordRelease('web', 1, pushed.digest, false);
    await recordRelease('web', 2, second.digest, true);

    const latest = await send('HEAD', '/v2/web/manifests/latest');
    const first = await send('HEAD', '/v2/web/manifests/v1');

    expect(latest.headers.get('docker-content-digest')).toBe(second.digest);
    expect(first.headers.get('docker-content-digest')).toBe(pushed.digest);
  });

  it('refuses a manifest type that the Accept header leaves out', async () => {
    const response = await send('GET', '/v2/web/manifests/build-1', { headers: { accept: MediaType.dockerManifest } });

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('MANIFEST_UNKNOWN');
  });

  it.each([
    ['an unknown app', '/v2/nothing/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['an app without releases', '/v2/empty/manifests/latest', 404, 'MANIFEST_UNKNOWN'],
    ['an unknown tag', '/v2/web/manifests/no-such-tag', 404, 'MANIFEST_UNKNOWN'],
    ['an unknown digest', `/v2/web/manifests/sha256:${'0'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
    ['a layer digest used as a manifest', 'LAYER', 404, 'MANIFEST_UNKNOWN'],
    ['an invalid name', '/v2/Web/manifests/latest', 400, 'NAME_INVALID'],
    ['a name that is neither an app nor an image', '/v2/team/web/manifests/latest', 404, 'NAME_UNKNOWN'],
    ['an unknown image name', '/v2/docker.io/library/nothing/manifests/latest', 404, 'NAME_UNKNOWN'],
  ])('answers %s with the spec error', async (_case, url, status, code) => {
    const response = await send('GET', url === 'LAYER' ? `/v2/web/manifests/${layer.digest}` : url);

    expect(response.status).toBe(status);
    expect((await registryError(response)).code).toBe(code);
  });

  it('rejects DELETE of a manifest as unsupported', async () => {
    const response = await send('DELETE', `/v2/web/manifests/${pushed.digest}`);

    expect(response.status).toBe(405);
    expect((await registryError(response)).code).toBe('UNSUPPORTED');
  });
});

describe('pulling blobs', () => {
  it('streams a blob with its length and digest', async () => {
    const response = await send('GET', `/v2/web/blobs/${layer.digest}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(layer.size));
    expect(response.headers.get('docker-content-digest')).toBe(layer.digest);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(layer.bytes);
  });

  it.each([
    ['bytes=0-9', 0, 10],
    ['bytes=5-', 5, undefined],
    ['bytes=-7', -7, undefined],
  ])('serves the range %s', async (range, start, end) => {
    const response = await send('GET', `/v2/web/blobs/${layer.digest}`, { headers: { range } });

    expect(response.status).toBe(206);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(layer.bytes.subarray(start, end));
  });

  it('refuses a range past the end with 416', async () => {
    const response = await send('GET', `/v2/web/blobs/${layer.digest}`, { headers: { range: `bytes=${layer.size}-` } });

    expect(response.status).toBe(416);
    expect(response.headers.get('content-range')).toBe(`bytes */${layer.size}`);
  });

  it.each([
    ['an unknown blob', `/v2/web/blobs/sha256:${'1'.repeat(64)}`, 404, 'BLOB_UNKNOWN'],
    ['an invalid digest', '/v2/web/blobs/sha256:xyz', 400, 'DIGEST_INVALID'],
    ['a blob of an unknown app', `/v2/nothing/blobs/${'sha256:'.padEnd(71, '2')}`, 404, 'NAME_UNKNOWN'],
  ])('answers %s with the spec error', async (_case, url, status, code) => {
    const response = await send('GET', url);

    expect(response.status).toBe(status);
    expect((await registryError(response)).code).toBe(code);
  });
});

describe('pushing blobs', () => {
  it('takes a blob in chunks and checks its digest', async () => {
    const bytes = randomBytes(300_000);
    const start = await send('POST', '/v2/web/blobs/uploads/');
    expect(start.status).toBe(202);
    const location = start.headers.get('location')!;

    const first = await send('PATCH', location, { body: bytes.subarray(0, 100_000), headers: { 'content-range': '0-99999' } });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-99999');
    const second = await send('PATCH', first.headers.get('location')!, { body: bytes.subarray(100_000, 200_000) });
    expect(second.headers.get('range')).toBe('0-199999');
    const done = await send('PUT', `${second.headers.get('location')}?digest=${sha256Digest(bytes)}`, { body: bytes.subarray(200_000) });

    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(sha256Digest(bytes));
    expect(Buffer.from(await (await send('GET', `/v2/web/blobs/${sha256Digest(bytes)}`)).arrayBuffer())).toEqual(bytes);
  });

  it('reports the size of an upload so a client can resume it', async () => {
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;
    await send('PATCH', location, { body: Buffer.alloc(1234, 1) });

    const status = await send('GET', location);

    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-1233');
  });

  it('rejects a chunk that does not start where the upload ends', async () => {
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;
    await send('PATCH', location, { body: Buffer.alloc(10, 1), headers: { 'content-range': '0-9' } });

    const response = await send('PATCH', location, { body: Buffer.alloc(10, 2), headers: { 'content-range': '20-29' } });

    expect(response.status).toBe(416);
    expect(response.headers.get('range')).toBe('0-9');
    expect((await registryError(response)).code).toBe('BLOB_UPLOAD_INVALID');
  });

  it('discards an upload with a wrong digest', async () => {
    const bytes = randomBytes(1000);
    const wrongDigest = sha256Digest(Buffer.from('something else'));
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;

    const response = await send('PUT', `${location}?digest=${wrongDigest}`, { body: bytes });

    expect(response.status).toBe(400);
    expect((await registryError(response)).code).toBe('DIGEST_INVALID');
    expect((await send('HEAD', `/v2/web/blobs/${wrongDigest}`)).status).toBe(404);
    expect((await send('HEAD', `/v2/web/blobs/${sha256Digest(bytes)}`)).status).toBe(404);
    expect((await registryError(await send('GET', location))).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('rejects a monolithic upload whose content does not match its digest', async () => {
    const response = await send('POST', `/v2/web/blobs/uploads/?digest=${sha256Digest(Buffer.from('x'))}`, { body: Buffer.from('y') });

    expect(response.status).toBe(400);
    expect((await registryError(response)).code).toBe('DIGEST_INVALID');
  });

  it('cancels an upload', async () => {
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;

    expect((await send('DELETE', location)).status).toBe(204);
    expect((await send('GET', location)).status).toBe(404);
  });

  it('does not continue an upload under another repository', async () => {
    const location = (await send('POST', '/v2/web/blobs/uploads/')).headers.get('location')!;

    const response = await send('PATCH', location.replace('/v2/web/', '/v2/empty/'), { body: 'x' });

    expect(response.status).toBe(404);
    expect((await registryError(response)).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('mounts a stored blob from another repository without an upload', async () => {
    const response = await send('POST', `/v2/empty/blobs/uploads/?mount=${layer.digest}&from=web`);

    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v2/empty/blobs/${layer.digest}`);
  });

  it('starts an upload when the blob to mount is unknown', async () => {
    const response = await send('POST', `/v2/empty/blobs/uploads/?mount=sha256:${'3'.repeat(64)}&from=web`);

    expect(response.status).toBe(202);
  });
});

describe('pushing manifests', () => {
  it('rejects a manifest that references a blob the registry lacks', async () => {
    const missing = { mediaType: MediaType.ociLayerGzip, digest: `sha256:${'4'.repeat(64)}`, size: 10 };
    const manifest = { ...pushed.manifest, layers: [missing] };

    const response = await send('PUT', '/v2/web/manifests/broken', { body: JSON.stringify(manifest), headers: { 'content-type': MediaType.ociManifest } });

    expect(response.status).toBe(400);
    expect(await registryError(response)).toMatchObject({ code: 'MANIFEST_BLOB_UNKNOWN', detail: { digest: missing.digest } });
    expect((await send('HEAD', '/v2/web/manifests/broken')).status).toBe(404);
  });

  it.each([
    ['a body that is not JSON', 'not json', MediaType.ociManifest],
    ['a schema 1 manifest', JSON.stringify({ schemaVersion: 1, name: 'web', tag: 'x', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['a media type that differs from its Content-Type', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: {}, layers: [] }), MediaType.dockerManifest],
    ['a descriptor with a sha512 digest', JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: `sha512:${'a'.repeat(128)}`, size: 2 }, layers: [] }), MediaType.ociManifest],
  ])('rejects %s as MANIFEST_INVALID', async (_case, body, contentType) => {
    const response = await send('PUT', '/v2/web/manifests/invalid', { body, headers: { 'content-type': contentType } });

    expect(response.status).toBe(400);
    expect((await registryError(response)).code).toBe('MANIFEST_INVALID');
  });

  it('rejects a manifest pushed under a digest it does not hash to', async () => {
    const response = await send('PUT', `/v2/web/manifests/sha256:${'5'.repeat(64)}`, { body: pushed.bytes, headers: { 'content-type': MediaType.ociManifest } });

    expect(response.status).toBe(400);
    expect((await registryError(response)).code).toBe('DIGEST_INVALID');
  });

  it('accepts a manifest by digest without tagging it', async () => {
    const response = await send('PUT', `/v2/empty/manifests/${pushed.digest}`, { body: pushed.bytes, headers: { 'content-type': MediaType.ociManifest } });

    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v2/empty/manifests/${pushed.digest}`);
  });

  it.each(['latest', 'v1', 'v12'])('refuses to push the release tag %s of an app', async (tag) => {
    const response = await send('PUT', `/v2/web/manifests/${tag}`, { body: pushed.bytes, headers: { 'content-type': MediaType.ociManifest } });

    expect(response.status).toBe(403);
    expect((await registryError(response)).code).toBe('DENIED');
  });

  it('accepts Docker schema 2 manifests', async () => {
    const docker = await pushImage(send, 'web', 'docker-format', [layer], imageConfig([layer]), 'docker');

    const response = await send('GET', '/v2/web/manifests/docker-format', { headers: { accept: MediaType.dockerManifest } });

    expect(response.headers.get('content-type')).toBe(MediaType.dockerManifest);
    expect(response.headers.get('docker-content-digest')).toBe(docker.digest);
  });

  it('serves amd64 to clients without index support', async () => {
    const arm = await pushImage(send, 'web', 'arm-only', [layer], imageConfig([layer], { architecture: 'arm64' }));
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: arm.digest, size: arm.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MediaType.ociManifest, digest: pushed.digest, size: pushed.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const stored = await pushManifest(send, 'web', 'multi', index, MediaType.ociIndex);

    const asIndex = await send('HEAD', '/v2/web/manifests/multi', { headers: { accept: `${MediaType.ociIndex}, ${MediaType.ociManifest}` } });
    const asManifest = await send('HEAD', '/v2/web/manifests/multi', { headers: { accept: MediaType.ociManifest } });

    expect(asIndex.headers.get('docker-content-digest')).toBe(stored.digest);
    expect(asManifest.headers.get('docker-content-digest')).toBe(pushed.digest);
  });

  it('rejects an index whose manifests are not stored', async () => {
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: `sha256:${'6'.repeat(64)}`, size: 100 }] };

    const response = await send('PUT', '/v2/web/manifests/dangling', { body: JSON.stringify(index), headers: { 'content-type': MediaType.ociIndex } });

    expect((await registryError(response)).code).toBe('MANIFEST_BLOB_UNKNOWN');
  });

  it('makes an image pushed under a registry host name available to FROM', async () => {
    const base = await pushImage(send, 'docker.io/library/pushed-base', '1.0', [layer], imageConfig([layer]));

    expect(await api.deps.images.resolve(parseImageReference('pushed-base:1.0'))).toBe(base.digest);
    expect((await send('HEAD', '/v2/docker.io/library/pushed-base/manifests/1.0')).status).toBe(200);
  });
});

describe('listing', () => {
  it('lists pushed tags and release tags in lexical order', async () => {
    const response = await send('GET', '/v2/web/tags/list');
    const body = (await response.json()) as { name: string; tags: string[] };

    expect(body.name).toBe('web');
    expect(body.tags).toEqual(expect.arrayContaining(['build-1', 'build-2', 'latest', 'v1', 'v2']));
    expect(body.tags).toEqual([...body.tags].sort());
  });

  it('pages tags with n and last and links the next page', async () => {
    const all = ((await (await send('GET', '/v2/web/tags/list')).json()) as { tags: string[] }).tags;

    const first = await send('GET', '/v2/web/tags/list?n=2');
    const firstTags = ((await first.json()) as { tags: string[] }).tags;
    const second = await send('GET', `/v2/web/tags/list?n=2&last=${firstTags[1]}`);

    expect(firstTags).toEqual(all.slice(0, 2));
    expect(first.headers.get('link')).toBe(`</v2/web/tags/list?n=2&last=${firstTags[1]}>; rel="next"`);
    expect(((await second.json()) as { tags: string[] }).tags).toEqual(all.slice(2, 4));
  });

  it('lists the apps and stored images in the catalog', async () => {
    const body = (await (await send('GET', '/v2/_catalog')).json()) as { repositories: string[] };

    expect(body.repositories).toEqual(expect.arrayContaining(['docker.io/library/pushed-base', 'empty', 'web']));
    expect(body.repositories.some((name) => name.startsWith('slipway-app/'))).toBe(false);
  });
});
