import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBlob, type BlobStore } from '../../../shared/blobs/blob-store.ts';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { S3BlobStore } from '../../../shared/blobs/s3-blob-store.ts';
import type { Digest } from '../../../shared/oci/digest.ts';
import { freePort } from '../../support/free-port.ts';

const BUCKET = 'slipway-test';

function digestOf(data: Buffer): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface StoreFixture {
  store: BlobStore;
  /** Files the store keeps while writing; empty when nothing half-written is left. */
  spoolFiles(): Promise<string[]>;
  close(): Promise<void>;
}

async function localFixture(): Promise<StoreFixture> {
  const root = await mkdtemp(path.join(tmpdir(), 'slipway-blobs-local-'));
  return {
    store: new LocalBlobStore(root),
    spoolFiles: () => readdir(path.join(root, 'tmp')).catch(() => []),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

async function s3Fixture(): Promise<StoreFixture> {
  const root = await mkdtemp(path.join(tmpdir(), 'slipway-blobs-s3-'));
  const port = await freePort();
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: path.join(root, 'server'), configureBuckets: [{ name: BUCKET, configs: [] }] });
  await server.run();

  // s3rver accepts any credentials; the SDK still needs some to sign requests.
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  const store = new S3BlobStore(
    { bucket: BUCKET, endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true },
    path.join(root, 'spool'),
    'test-prefix/',
  );
  return {
    store,
    spoolFiles: () => readdir(path.join(root, 'spool')).catch(() => []),
    async close() {
      store.destroy();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

describe.each([
  ['local files', localFixture],
  ['S3 (s3rver)', s3Fixture],
])('blob store on %s', (_name, makeFixture) => {
  let fixture: StoreFixture;
  let store: BlobStore;

  beforeAll(async () => {
    fixture = await makeFixture();
    store = fixture.store;
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('stores content under its sha256 digest', async () => {
    const data = randomBytes(10_000);
    const stored = await store.put(Readable.from([data]));
    expect(stored).toEqual({ digest: digestOf(data), size: data.length });
    expect(await readBlob(store, stored.digest)).toEqual(data);
  });

  it('stores a file from disk', async () => {
    const data = randomBytes(3000);
    const file = path.join(await mkdtemp(path.join(tmpdir(), 'slipway-blob-file-')), 'blob');
    await writeFile(file, data);
    const stored = await store.putFile(file);
    expect(stored.digest).toBe(digestOf(data));
    await rm(path.dirname(file), { recursive: true });
  });

  it('stores the same content twice without error', async () => {
    const data = Buffer.from('same content');
    const first = await store.put(Readable.from([data]));
    const second = await store.put(Readable.from([data]));
    expect(second).toEqual(first);
  });

  it('reports the size of a blob and null for an absent one', async () => {
    const data = Buffer.from('sized');
    const { digest } = await store.put(Readable.from([data]));
    expect(await store.stat(digest)).toEqual({ size: 5 });
    expect(await store.stat(digestOf(Buffer.from('never stored')))).toBeNull();
  });

  it('rejects content that does not match the expected digest and stores nothing', async () => {
    const data = Buffer.from('actual');
    const expected = digestOf(Buffer.from('expected'));
    await expect(store.put(Readable.from([data]), { expectedDigest: expected })).rejects.toMatchObject({ code: 'BLOB_DIGEST_MISMATCH' });
    expect(await store.stat(expected)).toBeNull();
    expect(await store.stat(digestOf(data))).toBeNull();
    expect(await fixture.spoolFiles()).toEqual([]);
  });

  it('rejects content over the size limit and stores nothing', async () => {
    const data = randomBytes(2048);
    await expect(store.put(Readable.from([data]), { maxBytes: 1024 })).rejects.toMatchObject({ code: 'BLOB_TOO_LARGE' });
    expect(await store.stat(digestOf(data))).toBeNull();
    expect(await fixture.spoolFiles()).toEqual([]);
  });

  it('fails to open an absent blob with BLOB_NOT_FOUND', async () => {
    await expect(store.get(digestOf(Buffer.from('absent')))).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
  });

  it('deletes a blob', async () => {
    const { digest } = await store.put(Readable.from([Buffer.from('to delete')]));
    await store.delete(digest);
    expect(await store.stat(digest)).toBeNull();
  });

  it('streams a blob larger than one upload part', async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const { digest } = await store.put(Readable.from([data]));
    expect(digestOf(await readBlob(store, digest))).toBe(digest);
  });

  it('answers a ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
