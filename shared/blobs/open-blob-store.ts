import path from 'node:path';
import type { Config } from '../config.ts';
import type { BlobStore } from './blob-store.ts';
import { LocalBlobStore } from './local-blob-store.ts';
import { S3BlobStore } from './s3-blob-store.ts';

/** Opens the blob store the configuration selects: S3 when S3_BUCKET is set, else local files. */
export function openBlobStore(config: Config): BlobStore {
  if (config.s3) return new S3BlobStore(config.s3, path.join(config.dataDir, 'tmp'));
  return new LocalBlobStore(path.join(config.dataDir, 'storage'));
}
