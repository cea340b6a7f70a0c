import { createReadStream } from 'node:fs';
import { access, link, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { digestHex, type Digest } from '../oci/digest.ts';
import { BlobNotFoundError, type BlobStore, type PutBlobOptions, type StoredBlob } from './blob-store.ts';
import { spoolToFile } from './spool.ts';

/**
 * Blobs as files under `<root>/blobs/sha256/<hex>`. A blob is written to a spool file
 * in `<root>/tmp` first and linked into place only once complete and verified, so a
 * reader never sees a partial blob and two writers of the same content both succeed.
 */
export class LocalBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  async put(content: Readable, options: PutBlobOptions = {}): Promise<StoredBlob> {
    const spooled = await spoolToFile(content, path.join(this.root, 'tmp'), options);
    try {
      const target = this.blobPath(spooled.digest);
      await mkdir(path.dirname(target), { recursive: true });
      await link(spooled.path, target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      return { digest: spooled.digest, size: spooled.size };
    } finally {
      await spooled.remove();
    }
  }

  async putFile(filePath: string, options: PutBlobOptions = {}): Promise<StoredBlob> {
    return this.put(createReadStream(filePath), options);
  }

  async get(digest: Digest): Promise<Readable> {
    const blobPath = this.blobPath(digest);
    try {
      await access(blobPath);
    } catch {
      throw new BlobNotFoundError(digest);
    }
    return createReadStream(blobPath);
  }

  async stat(digest: Digest): Promise<{ size: number } | null> {
    try {
      return { size: (await stat(this.blobPath(digest))).size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async ping(): Promise<void> {
    await mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true });
    await access(path.join(this.root, 'blobs', 'sha256'));
  }

  /** The file that holds a blob; callers on this host may read it directly. */
  blobPath(digest: Digest): string {
    return path.join(this.root, 'blobs', 'sha256', digestHex(digest));
  }
}
