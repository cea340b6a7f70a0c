import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { readBlob } from '../../../shared/blobs/blob-store.ts';
import { apps, releases } from '../../../shared/db/schema.ts';
import { digestHex } from '../../../shared/oci/digest.ts';
import type { StoredImage } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers } from './support/layer-entries.ts';

const DOCKERFILE = [
  `FROM ${BUSYBOX_IMAGE}`,
  'RUN echo one > /one.txt',
  'COPY a.txt /a.txt',
  'RUN cat /a.txt > /copy-of-a.txt',
  'COPY c.txt /c.txt',
  'WORKDIR /srv',
  'CMD ["sh"]',
  '',
].join('\n');
const FILE_STEPS = ['RUN echo one > /one.txt', 'COPY a.txt /a.txt', 'RUN cat /a.txt > /copy-of-a.txt', 'COPY c.txt /c.txt', 'WORKDIR /srv'];

/** Lists the file steps of a build output with whether each ran (`DONE`) or came from the cache (`CACHED`). */
function stepStatuses(output: string): [string, string][] {
  const headers = new Map<string, string>();
  const statuses: [string, string][] = [];
  for (const line of output.split('\n')) {
    const header = /^#(\d+) \[\d+\/\d+\] (.*)$/.exec(line);
    if (header && !header[2]!.startsWith('FROM')) headers.set(header[1]!, header[2]!);
    const status = /^#(\d+) (CACHED|DONE)/.exec(line);
    if (status && headers.has(status[1]!)) statuses.push([headers.get(status[1]!)!, status[2]!]);
  }
  return statuses;
}

describe('builder cache and export', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('cache');
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('runs nothing and stores no blob when the context is unchanged', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'a\n', 'c.txt': 'c\n' });
    const first = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });
    const blobsBefore = await harness.blobDigests();
    const writesBefore = harness.blobs.writes;

    const second = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    expect(stepStatuses(second.output)).toEqual(FILE_STEPS.map((step) => [step, 'CACHED']));
    expect(await harness.blobDigests()).toEqual(blobsBefore);
    expect(harness.blobs.writes).toBe(writesBefore);
    expect(second.image.digest).toBe(first.image.digest);
  });

  it('hits a cache that another worker built', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'shared\n', 'c.txt': 'c\n' });
    const first = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });
    const otherWorker = harness.addWorker('second');
    const writesBefore = harness.blobs.writes;

    const second = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir }, otherWorker);

    expect(stepStatuses(second.output)).toEqual(FILE_STEPS.map((step) => [step, 'CACHED']));
    expect(harness.blobs.writes).toBe(writesBefore);
    expect(second.image.digest).toBe(first.image.digest);
    expect(await readdir(otherWorker.layers.root).catch(() => [])).toEqual([]);
  });

  it('runs only the changed part on another worker, unpacking the layers it needs', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'on worker one\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });
    const otherWorker = harness.addWorker('third');
    await writeFile(path.join(contextDir, 'c.txt'), 'changed on worker two\n');

    const { image, output } = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir }, otherWorker);

    expect(stepStatuses(output).map(([, status]) => status)).toEqual(['CACHED', 'CACHED', 'CACHED', 'DONE', 'DONE']);
    const layers = (await addedLayers(harness.blobs, image)).flat();
    expect(layers.find((entry) => entry.name === 'copy-of-a.txt')?.content).toBe('on worker one\n');
    expect(layers.find((entry) => entry.name === 'c.txt')?.content).toBe('changed on worker two\n');
    expect((await readdir(otherWorker.layers.root)).length).toBeGreaterThan(0);
  });

  it('runs again from the first step that copies a changed file', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'version 1\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });
    await writeFile(path.join(contextDir, 'a.txt'), 'version 2\n');

    const { image, output } = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    expect(stepStatuses(output)).toEqual([
      ['RUN echo one > /one.txt', 'CACHED'],
      ['COPY a.txt /a.txt', 'DONE'],
      ['RUN cat /a.txt > /copy-of-a.txt', 'DONE'],
      ['COPY c.txt /c.txt', 'DONE'],
      ['WORKDIR /srv', 'DONE'],
    ]);
    const layers = await addedLayers(harness.blobs, image);
    expect(layers.flat().find((entry) => entry.name === 'copy-of-a.txt')?.content).toBe('version 2\n');
  });

  it('uses the cache when only the mtime of a copied file changed', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'same\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });
    await utimes(path.join(contextDir, 'a.txt'), new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));

    const { output } = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    expect(stepStatuses(output).map(([, status]) => status)).toEqual(FILE_STEPS.map(() => 'CACHED'));
  });

  it('leaves proxy build args out of the cache key', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'proxy\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, buildArgs: { HTTP_PROXY: 'http://127.0.0.1:3128' } });

    const { output } = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    expect(stepStatuses(output).map(([, status]) => status)).toEqual(FILE_STEPS.map(() => 'CACHED'));
  });

  it('runs every step with noCache and records the results', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'no cache\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    const uncached = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, noCache: true });
    const cached = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir });

    expect(stepStatuses(uncached.output).map(([, status]) => status)).toEqual(FILE_STEPS.map(() => 'DONE'));
    expect(stepStatuses(cached.output).map(([, status]) => status)).toEqual(FILE_STEPS.map(() => 'CACHED'));
  });

  it('runs a cached step again when its layer blob is gone', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN echo gone > /gone.txt\n`;
    const first = await harness.buildOk({ dockerfile });
    await harness.blobs.delete(first.image.manifest.layers[1]!.digest);

    const second = await harness.buildOk({ dockerfile });

    expect(stepStatuses(second.output)).toEqual([['RUN echo gone > /gone.txt', 'DONE']]);
    expect(await harness.blobs.stat(second.image.manifest.layers[1]!.digest)).not.toBeNull();
  });

  it('gives the same manifest digest for two builds with SOURCE_DATE_EPOCH', async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'reproducible\n', 'c.txt': 'c\n' });
    const buildArgs = { SOURCE_DATE_EPOCH: '1700000000' };

    const first = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, buildArgs, noCache: true });
    const second = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, buildArgs, noCache: true });

    expect(second.image.digest).toBe(first.image.digest);
    expect(stepStatuses(second.output).map(([, status]) => status)).toEqual(FILE_STEPS.map(() => 'DONE'));
    expect(first.image.config.created).toBe('2023-11-14T22:13:20.000Z');
    expect(first.image.config.history?.slice(1).map((entry) => entry.created)).toEqual(FILE_STEPS.concat('CMD').map(() => '2023-11-14T22:13:20.000Z'));
    const entries = (await addedLayers(harness.blobs, first.image)).flat();
    expect(entries.every((entry) => entry.mtime <= 1_700_000_000)).toBe(true);
  });

  it("runs again the steps another owner has cached", async () => {
    const contextDir = await harness.writeContext({ 'a.txt': 'per owner\n', 'c.txt': 'c\n' });
    await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, owner: 'alice' });

    const again = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, owner: 'alice' });
    const other = await harness.buildOk({ dockerfile: DOCKERFILE, contextDir, owner: 'bob' });

    expect(stepStatuses(again.output)).toEqual(FILE_STEPS.map((step) => [step, 'CACHED']));
    expect(stepStatuses(other.output)).toEqual(FILE_STEPS.map((step) => [step, 'DONE']));
  });

  describe('a FROM by digest', () => {
    // Port 1 on loopback refuses connections, so a pull of this name fails at once.
    const UNREACHABLE_NAME = '127.0.0.1:1/private/app';
    let privateDigest: string;

    beforeAll(async () => {
      const built = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo private > /private.txt\n`, owner: 'alice' });
      privateDigest = built.image.digest;
    });

    it("fails for an owner whose tags and releases do not reach the image", async () => {
      const run = await harness.build({ dockerfile: `FROM ${UNREACHABLE_NAME}@${privateDigest}\n`, owner: 'bob' });

      expect(run.error?.code).toBe('BASE_IMAGE_NOT_FOUND');
    });

    it('opens a stored image without an owner, as tools and the admin do', async () => {
      await harness.buildOk({ dockerfile: `FROM ${UNREACHABLE_NAME}@${privateDigest}\n` });
      await harness.buildOk({ dockerfile: `FROM ${UNREACHABLE_NAME}@${privateDigest}\n`, owner: 'admin' });
    });

    it('opens an image that a tag of its name reaches', async () => {
      const digest = await harness.images.resolve(parseImageReference(BUSYBOX_IMAGE));
      const [name] = BUSYBOX_IMAGE.split(':');

      await harness.buildOk({ dockerfile: `FROM ${name}@${digest}\n`, owner: 'bob' });
    });
  });

  describe("a FROM of the server's own registry", () => {
    let registry: string;

    beforeAll(async () => {
      registry = `127.0.0.1:${harness.config.apiPort}`;
      const built = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo shop > /shop.txt\n`, owner: 'alice' });
      const [app] = await harness.database.db.insert(apps).values({ name: 'shop', owner: 'alice' }).returning();
      const [release] = await harness.database.db
        .insert(releases)
        .values({ appId: app!.id, version: 1, imageDigest: built.image.digest, env: {}, status: 'active' })
        .returning();
      await harness.database.db.update(apps).set({ currentReleaseId: release!.id }).where(eq(apps.id, app!.id));
    });

    it.each(['latest', 'v1'])("builds FROM an app's release tag %s for its owner, without a pull", async (tag) => {
      const { image } = await harness.buildOk({ dockerfile: `FROM ${registry}/shop:${tag}\nRUN cat /shop.txt > /copy.txt\n`, owner: 'alice' });

      expect(image.manifest.layers.length).toBeGreaterThan(1);
    });

    it('fails for another owner as for an app that does not exist', async () => {
      const run = await harness.build({ dockerfile: `FROM ${registry}/shop:latest\n`, owner: 'bob' });

      expect(run.error?.code).toBe('BASE_IMAGE_NOT_FOUND');
      expect(run.error?.message).toContain("is not in this server's registry");
    });
  });

  it('writes an image that umoci unpacks and skopeo inspects', async () => {
    const { image } = await harness.buildOk({ dockerfile: DOCKERFILE, files: { 'a.txt': 'for umoci\n', 'c.txt': 'c\n' } });
    const layoutDir = path.join(harness.dir, 'oci-layout');
    await exportOciLayout(harness, image, layoutDir, 'built');
    const bundleDir = path.join(harness.dir, 'umoci-bundle');

    try {
      execFileSync('umoci', ['unpack', '--image', `${layoutDir}:built`, bundleDir], { stdio: ['ignore', 'ignore', 'pipe'] });
      const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layoutDir}:built`], { encoding: 'utf8' })) as { Layers: string[]; Architecture: string };

      expect(await readFile(path.join(bundleDir, 'rootfs', 'copy-of-a.txt'), 'utf8')).toBe('for umoci\n');
      expect(await readFile(path.join(bundleDir, 'rootfs', 'bin', 'busybox')).then((data) => data.length > 0)).toBe(true);
      expect(inspected.Layers).toEqual(image.manifest.layers.map((layer) => layer.digest));
      expect(inspected.Architecture).toBe('amd64');
    } finally {
      await rm(bundleDir, { recursive: true, force: true });
      await rm(layoutDir, { recursive: true, force: true });
    }
  });
});

/** Writes an OCI image layout holding `image` with its blobs from the store, tagged `tag`. */
async function exportOciLayout(harness: BuilderHarness, image: StoredImage, layoutDir: string, tag: string): Promise<void> {
  const blobDir = path.join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const storeDir = path.join(harness.dir, 'store', 'blobs', 'sha256');
  for (const digest of [image.digest, image.manifest.config.digest, ...image.manifest.layers.map((layer) => layer.digest)]) {
    await copyFile(path.join(storeDir, digestHex(digest)), path.join(blobDir, digestHex(digest)));
  }
  const manifestSize = (await readBlob(harness.blobs, image.digest)).length;
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ mediaType: MediaType.ociManifest, digest: image.digest, size: manifestSize, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify(index));
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}
