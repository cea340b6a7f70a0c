import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { LayerCache } from '../../../shared/layers/layer-cache.ts';
import { writeLayer, type WrittenLayer } from '../../../shared/layers/layer-writer.ts';
import type { Digest } from '../../../shared/oci/digest.ts';
import type { Descriptor, StoredImage } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { makeLayerTestRoot } from './support/layer-test-root.ts';
import { makeTempFolder } from './support/temp-folder.ts';
import { snapshotTree } from './support/tree-snapshot.ts';

/** The real local blob store, counting reads per digest to show how often a layer was unpacked. */
class CountingBlobStore extends LocalBlobStore {
  readonly reads = new Map<Digest, number>();

  override async get(digest: Digest): Promise<Readable> {
    this.reads.set(digest, (this.reads.get(digest) ?? 0) + 1);
    return super.get(digest);
  }
}

function descriptorOf(layer: WrittenLayer): Descriptor {
  return { mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size };
}

function imageOf(layers: WrittenLayer[]): StoredImage {
  return {
    digest: `sha256:${'0'.repeat(64)}`,
    manifest: {
      schemaVersion: 2,
      config: { mediaType: MediaType.ociConfig, digest: `sha256:${'1'.repeat(64)}`, size: 2 },
      layers: layers.map(descriptorOf),
    },
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) } },
  };
}

describe('layer cache', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let blobs: CountingBlobStore;
  let baseLayer: WrittenLayer;
  let appLayer: WrittenLayer;
  let otherAppLayer: WrittenLayer;
  let baseDir: string;

  async function storeLayer(sourceDir: string, name: string): Promise<WrittenLayer> {
    const file = path.join(temp.path, `${name}.tar.gz`);
    const layer = await writeLayer(sourceDir, file);
    await blobs.putFile(file, { expectedDigest: layer.digest });
    return layer;
  }

  beforeAll(async () => {
    temp = await makeTempFolder('layer-cache');
    blobs = new CountingBlobStore(path.join(temp.path, 'blobs'));
    baseDir = path.join(temp.path, 'base');
    await makeLayerTestRoot(baseDir);
    baseLayer = await storeLayer(baseDir, 'base');

    for (const name of ['app', 'other-app']) {
      await mkdir(path.join(temp.path, name, 'srv'), { recursive: true });
      await writeFile(path.join(temp.path, name, 'srv', 'app.txt'), `${name}\n`);
    }
    appLayer = await storeLayer(path.join(temp.path, 'app'), 'app');
    otherAppLayer = await storeLayer(path.join(temp.path, 'other-app'), 'other-app');
  });

  afterAll(async () => {
    await temp?.remove();
  });

  it('unpacks a shared layer once for two images', async () => {
    const cache = new LayerCache(path.join(temp.path, 'cache-shared'), blobs);
    blobs.reads.clear();

    const first = await cache.ensureImage(imageOf([baseLayer, appLayer]));
    const second = await cache.ensureImage(imageOf([baseLayer, otherAppLayer]));

    expect(second[0]).toBe(first[0]);
    expect(blobs.reads.get(baseLayer.digest)).toBe(1);
    expect(await readFile(path.join(first[1] ?? '', 'srv/app.txt'), 'utf8')).toBe('app\n');
    expect(await readFile(path.join(second[1] ?? '', 'srv/app.txt'), 'utf8')).toBe('other-app\n');
  });

  it('returns the folders bottom layer first with the layer contents', async () => {
    const cache = new LayerCache(path.join(temp.path, 'cache-order'), blobs);
    const folders = await cache.ensureImage(imageOf([baseLayer, appLayer]));

    expect(folders).toEqual([cache.layerPath(baseLayer.diffId), cache.layerPath(appLayer.diffId)]);
    expect(await snapshotTree(folders[0] ?? '')).toEqual(await snapshotTree(baseDir));
  });

  it('shares one unpack between concurrent calls', async () => {
    const cache = new LayerCache(path.join(temp.path, 'cache-concurrent'), blobs);
    blobs.reads.clear();

    const folders = await Promise.all(Array.from({ length: 5 }, () => cache.ensureLayer(descriptorOf(baseLayer), baseLayer.diffId)));

    expect(new Set(folders).size).toBe(1);
    expect(blobs.reads.get(baseLayer.digest)).toBe(1);
  });

  it('ends with one good folder when two caches race', async () => {
    const root = path.join(temp.path, 'cache-race');
    const caches = [new LayerCache(root, blobs), new LayerCache(root, blobs)];

    const folders = await Promise.all(caches.map((cache) => cache.ensureLayer(descriptorOf(baseLayer), baseLayer.diffId)));

    expect(folders[0]).toBe(folders[1]);
    expect(await readdir(root)).toEqual([path.basename(folders[0] ?? '')]);
    expect(await snapshotTree(folders[0] ?? '')).toEqual(await snapshotTree(baseDir));
  });

  it('rejects a blob whose compressed digest differs', async () => {
    const root = path.join(temp.path, 'cache-blob-digest');
    const cache = new LayerCache(root, blobs);
    // The same tar compressed at another level keeps its diff_id but gets another digest.
    const original = await readFile(blobs.blobPath(appLayer.digest));
    await blobs.delete(appLayer.digest);
    await writeFile(blobs.blobPath(appLayer.digest), gzipSync(gunzipSync(original), { level: 1 }));
    try {
      await expect(cache.ensureLayer(descriptorOf(appLayer), appLayer.diffId)).rejects.toMatchObject({ code: 'BLOB_DIGEST_MISMATCH' });
      expect(await readdir(root)).toEqual([]);
    } finally {
      await writeFile(blobs.blobPath(appLayer.digest), original);
    }
  });

  it('rejects a layer whose diff_id differs', async () => {
    const root = path.join(temp.path, 'cache-diff-id');
    const cache = new LayerCache(root, blobs);

    await expect(cache.ensureLayer(descriptorOf(appLayer), otherAppLayer.diffId)).rejects.toMatchObject({ code: 'LAYER_DIFF_ID_MISMATCH' });
    expect(await readdir(root)).toEqual([]);
  });

  it('adopts an unpacked folder without reading the blob', async () => {
    const cache = new LayerCache(path.join(temp.path, 'cache-adopt'), blobs);
    const upper = path.join(temp.path, 'cache-adopt-upper');
    await mkdir(path.join(upper, 'srv'), { recursive: true });
    await writeFile(path.join(upper, 'srv/app.txt'), 'app\n');
    blobs.reads.clear();

    const folder = await cache.adoptLayer(appLayer.diffId, upper);

    expect(await cache.ensureLayer(descriptorOf(appLayer), appLayer.diffId)).toBe(folder);
    expect(blobs.reads.size).toBe(0);
    expect(await readFile(path.join(folder, 'srv/app.txt'), 'utf8')).toBe('app\n');
  });

  it('removes a layer', async () => {
    const cache = new LayerCache(path.join(temp.path, 'cache-remove'), blobs);
    await cache.ensureLayer(descriptorOf(appLayer), appLayer.diffId);

    await cache.removeLayer(appLayer.diffId);

    expect(await cache.has(appLayer.diffId)).toBe(false);
    expect(await readdir(path.join(temp.path, 'cache-remove'))).toEqual([]);
  });
});
