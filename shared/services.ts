import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BlobStore } from './blobs/blob-store.ts';
import { openBlobStore } from './blobs/open-blob-store.ts';
import type { Config } from './config.ts';
import { openDatabase, type DatabaseHandle } from './db/database.ts';
import { ImageStore } from './images/image-store.ts';
import { createLogger } from './logger.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/embedded-redis.ts';
import { connectRedis, type RedisLocation } from './redis/redis-connection.ts';

const log = createLogger('services');

/** The stores every role uses, opened once per process. */
export interface Services {
  config: Config;
  database: DatabaseHandle;
  blobs: BlobStore;
  images: ImageStore;
  redisLocation: RedisLocation;
  /** A shared connection for short commands. */
  redis: Redis;
  close(): Promise<void>;
}

/**
 * Opens the database, blob store and Redis that the configuration selects, starting
 * the embedded redis-server when no REDIS_URL is set. Whatever opened is closed again
 * when a later step fails.
 */
export async function openServices(config: Config): Promise<Services> {
  await mkdir(path.join(config.dataDir, 'tmp'), { recursive: true, mode: 0o700 });
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((error) => log.error({ err: error }, 'closing a service failed'));
  };

  try {
    let embedded: EmbeddedRedis | undefined;
    if (!config.redisUrl) {
      embedded = await startEmbeddedRedis(path.join(config.dataDir, 'redis'));
      closers.push(() => embedded!.stop());
    }
    const redisLocation: RedisLocation = config.redisUrl ? { url: config.redisUrl } : { socketPath: embedded!.socketPath };
    const redis = connectRedis(redisLocation);
    closers.push(async () => void redis.disconnect());

    const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    closers.push(() => database.close());
    log.info({ driver: database.driver }, 'database opened');

    const blobs = openBlobStore(config);
    await blobs.ping();
    const images = new ImageStore(database.db, blobs);

    return { config, database, blobs, images, redisLocation, redis, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** BullMQ connection options for the configured Redis. */
export function bullConnection(location: RedisLocation): ConnectionOptions {
  return 'socketPath' in location
    ? { path: location.socketPath, maxRetriesPerRequest: null }
    : { url: location.url, maxRetriesPerRequest: null };
}
