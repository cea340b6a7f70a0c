import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { importImageArchive } from '../../../shared/images/image-import.ts';
import { ImageStore } from '../../../shared/images/image-store.ts';
import { LayerCache } from '../../../shared/layers/layer-cache.ts';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import type { StoredImage } from '../../../shared/oci/image-types.ts';
import { makeLayerTestRoot } from './support/layer-test-root.ts';
import { writeOciLayout, type LayoutImage, type LayoutLayer } from './support/oci-layout.ts';
import { makeTempFolder } from './support/temp-folder.ts';
import { snapshotTree, type TreeEntry } from './support/tree-snapshot.ts';

function skopeo(...args: string[]): void {
  execFileSync('skopeo', ['--insecure-policy', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('image archive import', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let database: DatabaseHandle;
  let images: ImageStore;
  let tempDir: string;
  let layoutDir: string;
  let layout: LayoutImage;
  let layer: LayoutLayer;
  let rootTree: TreeEntry[];
  let dockerArchive: string;

  async function unpackedTree(image: StoredImage): Promise<TreeEntry[]> {
    const cache = new LayerCache(path.join(temp.path, `cache-${Math.random().toString(36).slice(2)}`), images.blobs);
    const [folder] = await cache.ensureImage(image);
    return snapshotTree(folder ?? '');
  }

  function load(file: string | Buffer, reference: string): Promise<StoredImage> {
    const stream = typeof file === 'string' ? createReadStream(file) : Readable.from([file]);
    return importImageArchive(stream, parseImageReference(reference), { images, tempDir });
  }

  beforeAll(async () => {
    temp = await makeTempFolder('import');
    tempDir = path.join(temp.path, 'import-tmp');
    const rootDir = path.join(temp.path, 'root');
    await makeLayerTestRoot(rootDir);
    rootTree = await snapshotTree(rootDir);
    const file = path.join(temp.path, 'layer.tar.gz');
    layer = { ...(await writeLayer(rootDir, file)), file };
    layoutDir = path.join(temp.path, 'layout');
    layout = await writeOciLayout(layoutDir, [layer], 'v1');
    dockerArchive = path.join(temp.path, 'docker-archive.tar');
    skopeo('copy', `oci:${layoutDir}:v1`, `docker-archive:${dockerArchive}:test/app:v1`);

    database = await openDatabase({ dataDir: path.join(temp.path, 'data') });
    images = new ImageStore(database.db, new LocalBlobStore(path.join(temp.path, 'blobs')));
  });

  afterAll(async () => {
    await database?.close();
    await temp?.remove();
  });

  it('imports a docker-archive whose layers unpack to the original tree', async () => {
    const image = await load(dockerArchive, 'test/app:v1');

    expect(image.manifest.config.digest).toBe(layout.manifest.config.digest);
    expect(image.config.rootfs.diff_ids).toEqual([layer.diffId]);
    expect(await unpackedTree(image)).toEqual(rootTree);
    expect(await images.resolve(parseImageReference('test/app:v1'))).toBe(image.digest);
  });

  it('imports a gzip-compressed docker-archive', async () => {
    const image = await load(gzipSync(await readFile(dockerArchive)), 'test/app:gzipped');

    expect(image.config.rootfs.diff_ids).toEqual([layer.diffId]);
  });

  it('imports an oci-archive with the manifest digest unchanged', async () => {
    const archive = path.join(temp.path, 'oci-archive.tar');
    skopeo('copy', `oci:${layoutDir}:v1`, `oci-archive:${archive}:v1`);

    const image = await load(archive, 'test/oci:v1');

    expect(image.digest).toBe(layout.manifestDigest);
    expect(await unpackedTree(image)).toEqual(rootTree);
    expect(await images.resolve(parseImageReference('test/oci:v1'))).toBe(layout.manifestDigest);
  });

  describe('with two images in one OCI layout', () => {
    let archive: string;
    let second: LayoutImage;

    beforeAll(async () => {
      const twoDir = path.join(temp.path, 'two-images');
      const otherRoot = path.join(temp.path, 'other-root');
      await mkdir(path.join(otherRoot, 'srv'), { recursive: true });
      await writeFile(path.join(otherRoot, 'srv/app.txt'), 'second image\n');
      const otherFile = path.join(temp.path, 'other-layer.tar.gz');
      const otherLayer = { ...(await writeLayer(otherRoot, otherFile)), file: otherFile };
      await writeOciLayout(twoDir, [layer], 'v1');
      const firstIndex = JSON.parse(await readFile(path.join(twoDir, 'index.json'), 'utf8')) as { manifests: unknown[] };
      second = await writeOciLayout(twoDir, [otherLayer], 'v2');
      const secondIndex = JSON.parse(await readFile(path.join(twoDir, 'index.json'), 'utf8')) as { manifests: unknown[] };
      await writeFile(path.join(twoDir, 'index.json'), JSON.stringify({ ...secondIndex, manifests: [...firstIndex.manifests, ...secondIndex.manifests] }));
      archive = path.join(temp.path, 'two-images.tar');
      execFileSync('tar', ['-C', twoDir, '-cf', archive, '.']);
    });

    it('imports the image the tag names', async () => {
      const image = await load(archive, 'test/two:v2');

      expect(image.digest).toBe(second.manifestDigest);
    });

    it('rejects a tag that names none of them', async () => {
      await expect(load(archive, 'test/two:v3')).rejects.toMatchObject({ code: 'IMAGE_ARCHIVE_AMBIGUOUS', message: expect.stringContaining('v1, v2') });
    });
  });

  it('rejects a docker-archive layer whose diff_id differs from the config', async () => {
    const unpacked = path.join(temp.path, 'tampered');
    await mkdir(unpacked);
    execFileSync('tar', ['-C', unpacked, '-xf', dockerArchive]);
    const manifest = JSON.parse(await readFile(path.join(unpacked, 'manifest.json'), 'utf8')) as [{ Layers: string[] }];
    const layerFile = path.join(unpacked, manifest[0].Layers[0] ?? '');
    const tar = await readFile(layerFile);
    await writeFile(layerFile, Buffer.concat([tar, Buffer.alloc(512)]));
    const archive = path.join(temp.path, 'tampered.tar');
    execFileSync('tar', ['-C', unpacked, '-cf', archive, '.']);

    await expect(load(archive, 'test/tampered:v1')).rejects.toMatchObject({ code: 'IMAGE_ARCHIVE_INVALID', message: expect.stringContaining('diff_id') });
  });

  it.each([
    ['random bytes', Buffer.from('this is not a tar archive at all, just some text that is long enough'.repeat(20))],
    ['an empty upload', Buffer.alloc(0)],
    ['a tar without manifest.json or index.json', execFileSync('tar', ['-C', '/etc', '-cf', '-', 'hostname'])],
  ])('rejects %s with the accepted formats', async (_case, bytes) => {
    await expect(load(bytes, 'test/garbage:v1')).rejects.toMatchObject({
      code: 'IMAGE_ARCHIVE_INVALID',
      message: expect.stringContaining('docker save'),
    });
  });

  it('rejects an archive entry that climbs out', async () => {
    const archive = execFileSync('tar', ['-C', '/etc', '-cf', '-', '--transform', 's,^,../escaped-,', 'hostname']);

    await expect(load(archive, 'test/unsafe:v1')).rejects.toMatchObject({ code: 'LAYER_ENTRY_UNSAFE' });
    expect(await readdir(tempDir)).toEqual([]);
  });

  it('removes its temporary folder', async () => {
    await load(dockerArchive, 'test/cleanup:v1');
    await load(Buffer.from('garbage'), 'test/cleanup:v2').catch(() => {});

    expect(await readdir(tempDir)).toEqual([]);
  });
});
