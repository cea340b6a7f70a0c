import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apps, releases } from '../../../shared/db/schema.ts';
import { LayerCache } from '../../../shared/layers/layer-cache.ts';
import type { Digest } from '../../../shared/oci/digest.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { freePort } from '../../support/free-port.ts';
import { makeBusyboxRoot } from '../../support/rootfs.ts';
import { makeLayerTestRoot } from '../images/support/layer-test-root.ts';
import { writeOciLayout } from '../images/support/oci-layout.ts';
import { ociValidators, schemaErrors, type OciValidators } from './support/oci-schemas.ts';
import { runnerTree, skopeo, umociTree } from './support/outside-tools.ts';
import { basicAuth, inProcessSender, type Send } from './support/registry-client.ts';
import { imageConfig, makeLayer, pushImage, type PushedImage } from './support/test-images.ts';

let api: ApiHarness;
let send: Send;
let server: ServerType;
let host: string;
let scratch: string;
let site: PushedImage;
let validators: OciValidators;

beforeAll(async () => {
  api = await startApiHarness('registry_tools');
  send = inProcessSender(api.app, basicAuth(api.token));
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-registry-tools-'));
  validators = ociValidators();
  for (const name of ['site', 'upload']) expect((await api.request('POST', '/v1/apps', { json: { name } })).status).toBe(201);

  const port = await freePort();
  host = `127.0.0.1:${port}`;
  server = await new Promise<ServerType>((resolve) => {
    const started = serve({ fetch: api.app.fetch, hostname: '127.0.0.1', port }, () => resolve(started));
  });

  // A base layer with the hard cases of a root filesystem, and a layer on top that
  // deletes a file, replaces a folder (opaque) and changes a file, in overlayfs form.
  const base = await makeLayer(scratch, 'base', makeLayerTestRoot);
  const changes = await makeLayer(scratch, 'changes', async (root) => {
    await mkdir(path.join(root, 'etc'), { recursive: true });
    execFileSync('mknod', [path.join(root, 'etc/hostname'), 'c', '0', '0']);
    await mkdir(path.join(root, 'usr/share/doc'), { recursive: true });
    execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(root, 'usr/share/doc')]);
    await writeFile(path.join(root, 'usr/share/doc/only-file.txt'), 'the folder was replaced\n');
    await writeFile(path.join(root, 'etc/motd'), 'changed on top\n');
    await mkdir(path.join(root, 'srv'));
    await writeFile(path.join(root, 'srv/app.txt'), 'served by the registry\n');
  });
  site = await pushImage(send, 'site', 'build-1', [base, changes], imageConfig([base, changes]));

  const [app] = await api.database.db.select().from(apps).where(eq(apps.name, 'site'));
  const [release] = await api.database.db.insert(releases).values({ appId: app!.id, version: 1, imageDigest: site.digest, env: {}, status: 'active' }).returning();
  await api.database.db.update(apps).set({ currentReleaseId: release!.id }).where(eq(apps.id, app!.id));
});

afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await api?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function layoutManifestDigest(layoutDir: string): Promise<string> {
  const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return index.manifests[0]!.digest;
}

async function fetchJson(url: string): Promise<unknown> {
  const response = await send('GET', url);
  expect(response.status).toBe(200);
  return response.json();
}

describe('pulling with skopeo and umoci', () => {
  let layoutDir: string;

  beforeAll(async () => {
    layoutDir = path.join(scratch, 'pulled');
    const result = await skopeo('copy', '--src-tls-verify=false', '--src-creds', `anyone:${api.token}`, `docker://${host}/site:latest`, `oci:${layoutDir}:latest`);
    expect(result.code, result.stderr).toBe(0);
  });

  it('copies the current release with its manifest digest unchanged', async () => {
    expect(await layoutManifestDigest(layoutDir)).toBe(site.digest);
  });

  it('unpacks with umoci to the tree the runner runs', async () => {
    const cache = new LayerCache(path.join(scratch, 'layer-cache'), api.deps.blobs);
    const runnerView = await runnerTree(scratch, await cache.ensureImage(await api.deps.images.getImage(site.digest)));

    const umociView = await umociTree(scratch, layoutDir, 'latest');

    expect(umociView).toEqual(runnerView);
    expect(umociView.map((entry) => entry.path)).not.toContain('etc/hostname');
    expect(umociView.filter((entry) => entry.path.startsWith('usr/share/doc/')).map((entry) => entry.path)).toEqual(['usr/share/doc/only-file.txt']);
  });

  it('reads with a bearer token from the token endpoint', async () => {
    const response = await fetch(`http://${host}/v2/token?service=slipway-registry&scope=repository:site:pull`, { headers: { authorization: basicAuth(api.token) } });
    const { token } = (await response.json()) as { token: string };

    const result = await skopeo('inspect', '--tls-verify=false', '--registry-token', token, `docker://${host}/site:v1`);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).Digest).toBe(site.digest);
  });

  it.each([
    ['no credentials', []],
    ['a wrong token', ['--creds', 'anyone:swt_wrong']],
  ])('fails as unauthorized with %s', async (_case, credentials) => {
    const result = await skopeo('inspect', '--tls-verify=false', ...credentials, `docker://${host}/site:latest`);

    expect(result.code).not.toBe(0);
    expect(result.stderr.toLowerCase()).toContain('unauthorized');
  });

  it('reports an unknown tag as manifest unknown', async () => {
    const result = await skopeo('inspect', '--tls-verify=false', '--creds', `anyone:${api.token}`, `docker://${host}/site:no-such-tag`);

    expect(result.code).not.toBe(0);
    expect(result.stderr.toLowerCase()).toContain('manifest unknown');
  });
});

describe('pushing with skopeo', () => {
  let layoutDir: string;
  let layoutDigest: Digest;

  beforeAll(async () => {
    const layer = await makeLayer(scratch, 'busybox', (root) => makeBusyboxRoot(root));
    layoutDir = path.join(scratch, 'busybox-layout');
    layoutDigest = (await writeOciLayout(layoutDir, [layer], 'v1')).manifestDigest;
  });

  it('pushes an OCI layout under a tag of an app', async () => {
    const result = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `anyone:${api.token}`, `oci:${layoutDir}:v1`, `docker://${host}/upload:busybox`);
    expect(result.code, result.stderr).toBe(0);

    const head = await send('HEAD', '/v2/upload/manifests/busybox');
    expect(head.headers.get('docker-content-digest')).toBe(layoutDigest);
    expect(((await fetchJson('/v2/upload/tags/list')) as { tags: string[] }).tags).toEqual(['busybox']);
  });

  it('pushes Docker schema 2 and serves it back as such', async () => {
    const result = await skopeo('copy', '--format', 'v2s2', '--dest-tls-verify=false', '--dest-creds', `anyone:${api.token}`, `oci:${layoutDir}:v1`, `docker://${host}/upload:schema2`);
    expect(result.code, result.stderr).toBe(0);

    const head = await send('HEAD', '/v2/upload/manifests/schema2', { headers: { accept: MediaType.dockerManifest } });
    expect(head.headers.get('content-type')).toBe(MediaType.dockerManifest);
  });

  it('copies a pushed image back out unchanged', async () => {
    const copyDir = path.join(scratch, 'round-trip');
    const result = await skopeo('copy', '--src-tls-verify=false', '--src-creds', `anyone:${api.token}`, `docker://${host}/upload:busybox`, `oci:${copyDir}:busybox`);
    expect(result.code, result.stderr).toBe(0);

    expect(await layoutManifestDigest(copyDir)).toBe(layoutDigest);
  });
});

describe('OCI schemas', () => {
  it.each([
    ['the current release', '/v2/site/manifests/latest'],
    ['an image pushed by skopeo', '/v2/upload/manifests/busybox'],
  ])('validate the manifest and config of %s', async (_case, manifestUrl) => {
    const manifest = (await fetchJson(manifestUrl)) as { config: { digest: string } };
    const config = await fetchJson(`${manifestUrl.slice(0, manifestUrl.indexOf('/manifests/'))}/blobs/${manifest.config.digest}`);

    expect(schemaErrors(validators.manifest, manifest)).toEqual([]);
    expect(schemaErrors(validators.config, config)).toEqual([]);
  });

  it('reject a config without rootfs', async () => {
    const config = (await fetchJson(`/v2/site/blobs/${site.config.digest}`)) as Record<string, unknown>;
    delete config.rootfs;

    expect(schemaErrors(validators.config, config)).not.toEqual([]);
  });

  it('reject a manifest layer without a digest', () => {
    const broken = { ...site.manifest, layers: [{ mediaType: MediaType.ociLayerGzip, size: 1 }] };

    expect(schemaErrors(validators.manifest, broken)).not.toEqual([]);
  });
});
