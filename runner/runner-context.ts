import type { Redis } from 'ioredis';
import type { BlobStore } from '../shared/blobs/blob-store.ts';
import type { Config } from '../shared/config.ts';
import type { Runc } from '../shared/container/runc.ts';
import type { Database } from '../shared/db/database.ts';
import type { ImageStore } from '../shared/images/image-store.ts';
import type { LayerCache } from '../shared/layers/layer-cache.ts';
import type { Logger } from '../shared/logger.ts';
import type { BridgeNetwork } from '../shared/network/bridge-network.ts';
import type { RouteTable } from './ingress/route-table.ts';
import type { ShimLauncher } from './machines/shim-launcher.ts';

/** The stores, host runtime, network and routes that the runner's parts share. */
export interface RunnerContext {
  config: Config;
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  layers: LayerCache;
  runc: Runc;
  network: BridgeNetwork;
  routes: RouteTable;
  /** Starts container shims without forking the runner process; see ShimLauncher. */
  shims: ShimLauncher;
  redis: Redis;
  log: Logger;
}
