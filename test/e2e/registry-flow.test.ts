import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../shared/blobs/local-blob-store.ts';
import { ImageStore, MemoryImageTags } from '../../shared/images/image-store.ts';
import { LayerCache } from '../../shared/layers/layer-cache.ts';
import { parseDigest } from '../../shared/oci/digest.ts';
import type { ImageConfig, ImageManifest } from '../../shared/oci/image-types.ts';
import { MediaType } from '../../shared/oci/media-types.ts';
import { writeBlob, writeOciLayout } from '../integration/images/support/oci-layout.ts';
import { ociValidators, schemaErrors } from '../integration/registry/support/oci-schemas.ts';
import { runnerTree, skopeo, umociTree } from '../integration/registry/support/outside-tools.ts';
import { makeLayer } from '../integration/registry/support/test-images.ts';
import { makeBusyboxRoot } from '../support/rootfs.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';

const execFileAsync = promisify(execFile);
const BASE_IMAGE = 'registry-e2e/busybox:1';

let server: SlipwayServer;
let scratch: string;
let registry: string;

beforeAll(async () => {
  server = await startSlipwayServer('registry');
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-registry-'));
  registry = `127.0.0.1:${server.apiPort}`;

  // The base image of the build: a busybox root with a file that the build deletes.
  const base = await makeLayer(scratch, 'base', async (root) => {
    await makeBusyboxRoot(root);
    await writeFile(path.join(root, 'etc/remove-me'), 'deleted by the build\n');
  });
  const layoutDir = path.join(scratch, 'base-layout');
  await writeOciLayout(layoutDir, [base], '1');
  const archive = path.join(scratch, 'base.tar');
  await execFileAsync('tar', ['-C', layoutDir, '-cf', archive, '.']);
  const imported = await fetch(`http://${registry}/v1/images/import?ref=${encodeURIComponent(BASE_IMAGE)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}` },
    body: await readFile(archive),
  });
  expect(imported.status, await imported.clone().text()).toBe(201);
});

afterAll(async () => {
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Waits until a deploy succeeds or fails, polling its status, and returns the final status. */
async function waitForDeploy(id: string): Promise<{ status: string; error: unknown }> {
  for (let attempt = 0; attempt < 240; attempt += 1) {
    const deploy = (await (await server.api('GET', `/v1/deploys/${id}`)).json()) as { status: string; error: unknown };
    if (deploy.status === 'succeeded' || deploy.status === 'failed') return deploy;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`deploy ${id} did not finish within 120 s`);
}

describe('a built app, read back through the registry', () => {
  let layoutDir: string;

  beforeAll(async () => {
    expect((await server.cli(['apps', 'create', 'built'])).code).toBe(0);
    const context = path.join(scratch, 'built-context');
    await mkdir(context);
    await writeFile(path.join(context, 'page.txt'), 'copied from the context\n');
    await writeFile(
      path.join(context, 'Dockerfile'),
      [
        `FROM ${BASE_IMAGE}`,
        'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin',
        'RUN mkdir -p /www && echo built > /www/index.html && rm /etc/remove-me',
        'COPY page.txt /www/page.txt',
        'EXPOSE 8080',
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
        '',
      ].join('\n'),
    );
    const deploy = await server.cli(['deploy', context, '--app', 'built']);
    expect(deploy.code, `${deploy.stdout}\n${deploy.stderr}`).toBe(0);

    layoutDir = path.join(scratch, 'built-pulled');
    const copied = await skopeo('copy', '--src-tls-verify=false', '--src-creds', `anyone:${server.token}`, `docker://${registry}/built:latest`, `oci:${layoutDir}:latest`);
    expect(copied.code, copied.stderr).toBe(0);
  });

  it('unpacks with umoci to the tree the runner runs', async () => {
    const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blobs = new LocalBlobStore(path.join(server.dataDir, 'storage'));
    const image = await new ImageStore(new MemoryImageTags(), blobs).getImage(parseDigest(index.manifests[0]!.digest));
    const cache = new LayerCache(path.join(scratch, 'built-layers'), blobs);

    const runnerView = await runnerTree(scratch, await cache.ensureImage(image));
    const umociView = await umociTree(scratch, layoutDir, 'latest');

    expect(umociView).toEqual(runnerView);
    expect(umociView.map((entry) => entry.path)).toEqual(expect.arrayContaining(['www/index.html', 'www/page.txt']));
    expect(umociView.map((entry) => entry.path)).not.toContain('etc/remove-me');
  });

  it('serves a manifest and config that validate against the OCI schemas', async () => {
    const validators = ociValidators();
    const headers = { authorization: `Bearer ${server.token}`, accept: MediaType.ociManifest };
    const manifest = (await (await fetch(`http://${registry}/v2/built/manifests/v1`, { headers })).json()) as ImageManifest;
    const config = await (await fetch(`http://${registry}/v2/built/blobs/${manifest.config.digest}`, { headers })).json();

    expect(schemaErrors(validators.manifest, manifest)).toEqual([]);
    expect(schemaErrors(validators.config, config)).toEqual([]);
  });
});

describe('a pushed image, deployed without a build', () => {
  let pushedDigest: string;

  beforeAll(async () => {
    expect((await server.cli(['apps', 'create', 'pushed'])).code).toBe(0);
    const layer = await makeLayer(scratch, 'site', async (root) => {
      await makeBusyboxRoot(root);
      await mkdir(path.join(root, 'www'));
      await writeFile(path.join(root, 'www/index.html'), 'pushed with skopeo\n');
    });
    const layoutDir = path.join(scratch, 'site-layout');
    await writeOciLayout(layoutDir, [layer], 'web');
    // writeOciLayout's config runs a shell; this image serves /www with busybox httpd.
    const config: ImageConfig = {
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    };
    const configDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
    const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }] };
    const manifestDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...manifestDescriptor, annotations: { 'org.opencontainers.image.ref.name': 'web' } }] };
    await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify(index));
    pushedDigest = manifestDescriptor.digest;

    const pushed = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', `anyone:${server.token}`, `oci:${layoutDir}:web`, `docker://${registry}/pushed:web`);
    expect(pushed.code, pushed.stderr).toBe(0);
  });

  it('deploys by reference and serves the page', async () => {
    const response = await server.api('POST', '/v1/apps/pushed/releases', { image: `${registry}/pushed:web` });
    expect(response.status).toBe(202);
    const deploy = await waitForDeploy(((await response.json()) as { id: string }).id);

    expect(deploy, server.output().slice(-4000)).toMatchObject({ status: 'succeeded' });
    expect(await server.get('pushed', '/')).toEqual({ status: 200, body: 'pushed with skopeo\n' });
  });

  it('serves the deployed image as latest and v1', async () => {
    const headers = { authorization: `Bearer ${server.token}`, accept: MediaType.ociManifest };
    const latest = await fetch(`http://${registry}/v2/pushed/manifests/latest`, { method: 'HEAD', headers });
    const tags = (await (await fetch(`http://${registry}/v2/pushed/tags/list`, { headers })).json()) as { tags: string[] };

    expect(latest.headers.get('docker-content-digest')).toBe(pushedDigest);
    expect(tags.tags).toEqual(['latest', 'v1', 'web']);
  });
});
