import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Config } from '../config.ts';
import { SystemError } from '../errors.ts';
import { digestHex, type Digest } from '../oci/digest.ts';
import { BlobNotFoundError, type BlobStore, type PutBlobOptions, type StoredBlob } from './blob-store.ts';
import { spoolToFile } from './spool.ts';

/**
 * Blobs as objects `<prefix>blobs/sha256/<hex>` in an S3 bucket (AWS S3, R2, MinIO).
 * A stream is spooled to a local file first because its key is its digest, known only
 * at the end; the file then goes up as one multipart upload, skipped when the object
 * exists already. Credentials come from the AWS SDK's usual chain (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, profiles).
 */
export class S3BlobStore implements BlobStore {
  private readonly client: S3Client;

  constructor(
    private readonly config: S3Config,
    private readonly spoolFolder: string,
    private readonly prefix = '',
    client?: S3Client,
  ) {
    this.client =
      client ??
      new S3Client({ region: config.region, endpoint: config.endpoint, forcePathStyle: config.forcePathStyle });
  }

  async put(content: Readable, options: PutBlobOptions = {}): Promise<StoredBlob> {
    const spooled = await spoolToFile(content, this.spoolFolder, options);
    try {
      await this.uploadFile(spooled.path, spooled.digest);
      return { digest: spooled.digest, size: spooled.size };
    } finally {
      await spooled.remove();
    }
  }

  async putFile(filePath: string, options: PutBlobOptions = {}): Promise<StoredBlob> {
    return this.put(createReadStream(filePath), options);
  }

  async get(digest: Digest): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(digest) }));
      return response.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey || error instanceof NotFound) throw new BlobNotFoundError(digest);
      throw this.wrap('get', digest, error);
    }
  }

  async stat(digest: Digest): Promise<{ size: number } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.key(digest) }));
      return { size: head.ContentLength ?? 0 };
    } catch (error) {
      if (error instanceof NotFound || error instanceof NoSuchKey) return null;
      throw this.wrap('stat', digest, error);
    }
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.key(digest) }));
    } catch (error) {
      throw this.wrap('delete', digest, error);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (error) {
      throw new SystemError('BLOB_STORE_UNAVAILABLE', `S3 bucket ${this.config.bucket} did not answer: ${String(error)}`, {
        cause: error,
        status: 503,
      });
    }
  }

  destroy(): void {
    this.client.destroy();
  }

  private async uploadFile(filePath: string, digest: Digest): Promise<void> {
    if (await this.stat(digest)) return;

    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.key(digest), Body: createReadStream(filePath) },
      // A failed multipart upload is aborted so that no orphaned parts stay billed.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      throw this.wrap('put', digest, error);
    }
  }

  private key(digest: Digest): string {
    return path.posix.join(this.prefix, 'blobs', 'sha256', digestHex(digest));
  }

  private wrap(operation: string, digest: Digest, error: unknown): SystemError {
    return new SystemError(
      'BLOB_STORE_FAILED',
      `S3 ${operation} of ${digest} in bucket ${this.config.bucket} failed: ${String(error)}`,
      { cause: error, status: 503 },
    );
  }
}
