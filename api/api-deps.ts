import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../shared/blobs/blob-store.ts';
import type { Config } from '../shared/config.ts';
import type { Database } from '../shared/db/database.ts';
import type { ImageStore } from '../shared/images/image-store.ts';
import type { Logger } from '../shared/logger.ts';
import type { BuildJob } from '../shared/queue/queue-names.ts';
import type { RunnerClient } from '../shared/queue/runner-client.ts';

/** What the API's routes use; the server builds it once at start. */
export interface ApiDeps {
  config: Config;
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  /** A shared connection for short commands; followers duplicate it for blocking reads. */
  redis: Redis;
  buildQueue: Queue<BuildJob>;
  runners: RunnerClient;
  log: Logger;
}

/** `owner` is the account the request's token acts for (api_tokens.owner). */
export type ApiEnv = { Variables: { tokenId: string; owner: string } };
