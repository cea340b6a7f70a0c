import type { Redis } from 'ioredis';
import type { BlobStore } from '../shared/blobs/blob-store.ts';
import type { Config } from '../shared/config.ts';
import type { Runc } from '../shared/container/runc.ts';
import type { Database } from '../shared/db/database.ts';
import type { ImageStore } from '../shared/images/image-store.ts';
import type { LayerCache } from '../shared/layers/layer-cache.ts';
import type { Logger } from '../shared/logger.ts';
import type { BridgeNetwork } from '../shared/network/bridge-network.ts';
import type { RunnerClient } from '../shared/queue/runner-client.ts';

/** The stores and host runtime that the build worker's parts share. */
export interface WorkerContext {
  config: Config;
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  redis: Redis;
  runners: RunnerClient;
  /** The host runtime that RUN steps use. */
  builder: { layers: LayerCache; runc: Runc; network: BridgeNetwork };
  log: Logger;
}
