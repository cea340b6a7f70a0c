import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { ImageStore } from '../../../shared/images/image-store.ts';
import { LayerCache } from '../../../shared/layers/layer-cache.ts';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import type { ImageConfig, ImageManifest } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { pullImage } from '../../../shared/registry/registry-client.ts';
import { makeLayerTestRoot } from './support/layer-test-root.ts';
import { writeOciLayout, type LayoutImage, type LayoutLayer } from './support/oci-layout.ts';
import { pushBlob, pushManifest } from './support/registry-push.ts';
import { startRegistry, type RunningRegistry } from './support/registry-server.ts';
import { freePort } from '../../support/free-port.ts';
import { makeTempFolder } from './support/temp-folder.ts';
import { snapshotTree } from './support/tree-snapshot.ts';

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('registry pulls', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let registry: RunningRegistry;
  let database: DatabaseHandle;
  let images: ImageStore;
  let blobs: LocalBlobStore;
  let rootDir: string;
  let layer: LayoutLayer;
  let layout: LayoutImage;
  let layoutDir: string;

  /** Creates a fresh blob and image store, so no blob of an earlier pull is found in it. */
  function freshStore(name: string): ImageStore {
    return new ImageStore(database.db, new LocalBlobStore(path.join(temp.path, `blobs-${name}`)));
  }

  async function pushIndex(repository: string, platforms: [string, string][]): Promise<void> {
    const manifests = [];
    for (const [os, architecture] of platforms) {
      const config: ImageConfig = { ...layout.config, os, architecture };
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = await pushBlob(registry.host, repository, configBytes);
      await pushBlob(registry.host, repository, await readFile(layer.file));
      const manifest: ImageManifest = {
        ...layout.manifest,
        config: { mediaType: MediaType.ociConfig, digest: configDigest as `sha256:${string}`, size: configBytes.length },
      };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      const manifestDigest = await pushBlob(registry.host, repository, manifestBytes);
      await pushManifest(registry.host, repository, `${os}-${architecture}`, manifestBytes, MediaType.ociManifest);
      manifests.push({ mediaType: MediaType.ociManifest, digest: manifestDigest, size: manifestBytes.length, platform: { os, architecture } });
    }
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
    await pushManifest(registry.host, repository, 'multi', Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
  }

  beforeAll(async () => {
    temp = await makeTempFolder('registry');
    rootDir = path.join(temp.path, 'root');
    await makeLayerTestRoot(rootDir);
    const file = path.join(temp.path, 'layer.tar.gz');
    layer = { ...(await writeLayer(rootDir, file)), file };
    layoutDir = path.join(temp.path, 'layout');
    layout = await writeOciLayout(layoutDir, [layer], 'v1');

    registry = await startRegistry(path.join(temp.path, 'registry'));
    skopeo('copy', '--dest-tls-verify=false', `oci:${layoutDir}:v1`, `docker://${registry.host}/test/app:v1`);
    database = await openDatabase({ dataDir: path.join(temp.path, 'data') });
    blobs = new LocalBlobStore(path.join(temp.path, 'blobs'));
    images = new ImageStore(database.db, blobs);
  });

  afterAll(async () => {
    await registry?.stop();
    await database?.close();
    await temp?.remove();
  });

  it('pulls a tagged image with its manifest digest and layers', async () => {
    const reference = parseImageReference(`${registry.host}/test/app:v1`);
    const { image } = await pullImage(reference, { images });

    expect(image.digest).toBe(layout.manifestDigest);
    expect(image.manifest.layers.map((descriptor) => descriptor.digest)).toEqual([layer.digest]);
    expect(image.config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(await images.resolve(reference)).toBe(layout.manifestDigest);
  });

  it('pulls layers that unpack to the original tree', async () => {
    const { image } = await pullImage(parseImageReference(`${registry.host}/test/app:v1`), { images });
    const cache = new LayerCache(path.join(temp.path, 'layer-cache'), blobs);
    const [folder] = await cache.ensureImage(image);

    expect(await snapshotTree(folder ?? '')).toEqual(await snapshotTree(rootDir));
  });

  it('skips blobs that are already stored', async () => {
    const store = freshStore('reuse');
    const reference = parseImageReference(`${registry.host}/test/app:v1`);
    const first = await pullImage(reference, { images: store });
    const second = await pullImage(reference, { images: store });

    expect(first.downloaded).toHaveLength(2);
    expect(second.downloaded).toEqual([]);
    expect(second.reused.sort()).toEqual([layout.manifest.config.digest, layer.digest].sort());
  });

  it('pulls by digest', async () => {
    const store = freshStore('by-digest');
    const { image } = await pullImage(parseImageReference(`${registry.host}/test/app@${layout.manifestDigest}`), { images: store });

    expect(image.digest).toBe(layout.manifestDigest);
  });

  it('pulls a Docker schema 2 manifest as served', async () => {
    skopeo('copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${layoutDir}:v1`, `docker://${registry.host}/test/docker-format:v1`);
    const served = skopeo('inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/test/docker-format:v1`);
    const store = freshStore('docker-format');

    const { image } = await pullImage(parseImageReference(`${registry.host}/test/docker-format:v1`), { images: store });

    expect(image.manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(await readFile(path.join(temp.path, 'blobs-docker-format', 'blobs', 'sha256', image.digest.slice(7)), 'utf8')).toBe(served);
    expect(image.config.rootfs.diff_ids).toEqual([layer.diffId]);
  });

  it('resolves an index to the linux/amd64 image', async () => {
    await pushIndex('test/multi', [
      ['linux', 'arm64'],
      ['linux', 'amd64'],
    ]);
    const store = freshStore('index');

    const { image } = await pullImage(parseImageReference(`${registry.host}/test/multi:multi`), { images: store });

    expect(image.config.architecture).toBe('amd64');
    expect(await store.resolve(parseImageReference(`${registry.host}/test/multi:multi`))).toBe(image.digest);
  });

  it('names the offered platforms when linux/amd64 is missing', async () => {
    await pushIndex('test/arm-only', [['linux', 'arm64']]);

    await expect(pullImage(parseImageReference(`${registry.host}/test/arm-only:multi`), { images: freshStore('arm') })).rejects.toMatchObject({
      code: 'IMAGE_PLATFORM_NOT_FOUND',
      message: expect.stringContaining('linux/arm64'),
    });
  });

  it('reports an unknown tag as image not found', async () => {
    const reference = parseImageReference(`${registry.host}/test/app:missing`);

    await expect(pullImage(reference, { images })).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      message: expect.stringContaining(`${registry.host}/test/app:missing`),
    });
  });

  it('rejects a zstd layer as unsupported', async () => {
    const configBytes = Buffer.from(JSON.stringify(layout.config));
    const configDigest = await pushBlob(registry.host, 'test/zstd', configBytes);
    const layerDigest = await pushBlob(registry.host, 'test/zstd', await readFile(layer.file));
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: layerDigest, size: layer.size }],
    };
    await pushManifest(registry.host, 'test/zstd', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);

    await expect(pullImage(parseImageReference(`${registry.host}/test/zstd:v1`), { images: freshStore('zstd') })).rejects.toMatchObject({
      code: 'LAYER_COMPRESSION_UNSUPPORTED',
    });
  });

  it('rejects a corrupted blob and stores nothing unverified', async () => {
    const otherRoot = path.join(temp.path, 'corrupt-root');
    await makeLayerTestRoot(otherRoot);
    await writeFile(path.join(otherRoot, 'etc/hostname'), 'corrupted later\n');
    const file = path.join(temp.path, 'corrupt-layer.tar.gz');
    const corruptLayer = { ...(await writeLayer(otherRoot, file)), file };
    const corruptLayout = path.join(temp.path, 'corrupt-layout');
    await writeOciLayout(corruptLayout, [corruptLayer], 'v1');
    skopeo('copy', '--dest-tls-verify=false', `oci:${corruptLayout}:v1`, `docker://${registry.host}/test/corrupt:v1`);

    const hex = corruptLayer.digest.slice('sha256:'.length);
    const stored = path.join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(stored);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    await writeFile(stored, bytes);
    const storeDir = path.join(temp.path, 'blobs-corrupt');
    const store = new ImageStore(database.db, new LocalBlobStore(storeDir));
    const reference = parseImageReference(`${registry.host}/test/corrupt:v1`);

    await expect(pullImage(reference, { images: store })).rejects.toMatchObject({
      code: 'REGISTRY_BLOB_DIGEST_MISMATCH',
      message: expect.stringContaining(corruptLayer.digest),
    });
    expect(await store.blobs.stat(corruptLayer.digest)).toBeNull();
    expect(await readdir(path.join(storeDir, 'tmp'))).toEqual([]);
    expect(await store.resolve(reference)).toBeNull();
  });

  it('follows a redirect to storage for blob downloads', async () => {
    const frontPort = await freePort();
    const redirected: string[] = [];
    const front: Server = createServer((request, response) => {
      const url = request.url ?? '/';
      if (url.includes('/blobs/')) {
        redirected.push(url);
        response.writeHead(307, { location: `http://${registry.host}${url}` }).end();
        return;
      }
      void fetch(`http://${registry.host}${url}`, { headers: { accept: request.headers.accept ?? '*/*' } }).then(async (upstream) => {
        const headers: Record<string, string> = {};
        for (const name of ['content-type', 'docker-content-digest', 'www-authenticate']) {
          const value = upstream.headers.get(name);
          if (value) headers[name] = value;
        }
        response.writeHead(upstream.status, headers).end(Buffer.from(await upstream.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => front.listen(frontPort, '127.0.0.1', resolve));
    try {
      const { image } = await pullImage(parseImageReference(`127.0.0.1:${frontPort}/test/app:v1`), { images: freshStore('redirect') });

      expect(image.digest).toBe(layout.manifestDigest);
      expect(redirected).toHaveLength(2);
    } finally {
      await new Promise((resolve) => front.close(resolve));
    }
  });
});
