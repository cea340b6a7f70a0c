import type { Readable } from 'node:stream';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';

export interface PutBlobOptions {
  /** When given, the content must hash to this digest or nothing is stored. */
  expectedDigest?: Digest;
  /** When given, content longer than this many bytes is rejected and nothing is stored. */
  maxBytes?: number;
}

export interface StoredBlob {
  digest: Digest;
  size: number;
}

/**
 * Content-addressed object storage: every blob lives at `blobs/sha256/<hex>` and is
 * never changed once written. Implementations: local files and S3. Every method is safe
 * to call from several processes and hosts at once.
 */
export interface BlobStore {
  /** Stores a stream and returns its digest. Storing content that exists already is cheap. */
  put(content: Readable, options?: PutBlobOptions): Promise<StoredBlob>;
  /** Stores a file from the local disk, as `put` does. */
  putFile(filePath: string, options?: PutBlobOptions): Promise<StoredBlob>;
  /** Opens a blob for reading; throws BlobNotFoundError when it is absent. */
  get(digest: Digest): Promise<Readable>;
  /** Returns the size of a blob, or null when it is absent. */
  stat(digest: Digest): Promise<{ size: number } | null>;
  delete(digest: Digest): Promise<void>;
  /** Checks that the store answers; used by the health check. */
  ping(): Promise<void>;
}

export class BlobNotFoundError extends NotFoundError {
  constructor(digest: Digest) {
    super('BLOB_NOT_FOUND', `Blob ${digest} is not in the blob store.`, { details: { digest } });
  }
}

export class BlobDigestMismatchError extends ValidationError {
  constructor(expected: Digest, actual: Digest) {
    super('BLOB_DIGEST_MISMATCH', `Content hashes to ${actual}, not the expected ${expected}; nothing was stored.`, {
      details: { expected, actual },
    });
  }
}

export class BlobTooLargeError extends ValidationError {
  constructor(maxBytes: number) {
    super('BLOB_TOO_LARGE', `Content is larger than the limit of ${maxBytes} bytes; nothing was stored.`, {
      details: { maxBytes },
    });
  }
}

/** Reads a whole blob into memory. Only for small documents such as manifests and configs. */
export async function readBlob(store: BlobStore, digest: Digest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(digest)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function readBlobJson<T>(store: BlobStore, digest: Digest): Promise<T> {
  return JSON.parse((await readBlob(store, digest)).toString('utf8')) as T;
}
