import { randomUUID } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestingStream, type Digest } from '../oci/digest.ts';
import { BlobDigestMismatchError, BlobTooLargeError, type PutBlobOptions } from './blob-store.ts';

export interface SpooledFile {
  path: string;
  digest: Digest;
  size: number;
  /** Removes the file; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Writes a stream to a new file in `folder` while hashing it, enforcing the size limit
 * and expected digest of `options`. On any failure the partial file is removed.
 */
export async function spoolToFile(content: Readable, folder: string, options: PutBlobOptions = {}): Promise<SpooledFile> {
  await mkdir(folder, { recursive: true });
  const filePath = path.join(folder, `spool-${randomUUID()}`);
  const remove = () => rm(filePath, { force: true });
  const digesting = new DigestingStream();

  // The file is opened before the pipeline starts: a lazily opened write stream can
  // create the file after a failing pipeline has already removed it.
  const file = await open(filePath, 'wx');
  try {
    await pipeline(content, limitBytes(options.maxBytes), digesting, file.createWriteStream());
    const digest = digesting.digest();
    if (options.expectedDigest && options.expectedDigest !== digest) {
      throw new BlobDigestMismatchError(options.expectedDigest, digest);
    }
    return { path: filePath, digest, size: digesting.size, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** A pass-through that fails with BlobTooLargeError once more than `maxBytes` flowed. */
export function limitBytes(maxBytes: number | undefined): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (maxBytes !== undefined && seen > maxBytes) callback(new BlobTooLargeError(maxBytes));
      else callback(null, chunk);
    },
  });
}
