import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { inject } from 'vitest';
import { createApiToken } from '../../api/auth/api-tokens.ts';
import type { ApiDeps } from '../../api/api-deps.ts';
import { createApiApp } from '../../api/create-api-app.ts';
import { LocalBlobStore } from '../../shared/blobs/local-blob-store.ts';
import { loadConfig } from '../../shared/config.ts';
import { openDatabase, type DatabaseHandle } from '../../shared/db/database.ts';
import { ImageStore } from '../../shared/images/image-store.ts';
import { rootLogger } from '../../shared/logger.ts';
import { BUILD_QUEUE, type BuildJob } from '../../shared/queue/queue-names.ts';
import { RunnerClient } from '../../shared/queue/runner-client.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../shared/redis/redis-connection.ts';
import { bullConnection } from '../../shared/services.ts';
import { createTestDatabase } from './postgres-server.ts';

export interface ApiHarness {
  deps: ApiDeps;
  app: ReturnType<typeof createApiApp>;
  token: string;
  dataDir: string;
  database: DatabaseHandle;
  /** Sends a request with the harness token unless `headers.authorization` is given. */
  request(method: string, url: string, init?: { json?: unknown; body?: BodyInit; headers?: Record<string, string> }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The API in process against a real Postgres database of its own, a real redis-server
 * and blob files in a temporary folder.
 */
export async function startApiHarness(name: string, env: Record<string, string> = {}): Promise<ApiHarness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `slipway-${name}-`));
  const databaseUrl = await createTestDatabase(inject('postgresUrl'), `test_${name.replace(/\W/g, '_')}_${process.pid}`);
  const config = loadConfig({ SLIPWAY_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, ...env });

  const database = await openDatabase({ databaseUrl, dataDir });
  const embeddedRedis: EmbeddedRedis = await startEmbeddedRedis(path.join(dataDir, 'redis'));
  const location = { socketPath: embeddedRedis.socketPath };
  const redis = connectRedis(location);
  const blobs = new LocalBlobStore(path.join(dataDir, 'storage'));
  const buildQueue = new Queue<BuildJob>(BUILD_QUEUE, { connection: bullConnection(location) });
  const runners = new RunnerClient(database.db, bullConnection(location));
  const deps: ApiDeps = {
    config,
    db: database.db,
    blobs,
    images: new ImageStore(database.db, blobs),
    redis,
    buildQueue,
    runners,
    log: rootLogger,
  };
  const app = createApiApp(deps);
  const token = await createApiToken(database.db, 'test');

  return {
    deps,
    app,
    token,
    dataDir,
    database,
    async request(method, url, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...init.headers };
      let body = init.body;
      if (init.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(init.json);
      }
      return app.request(url, { method, headers, body, duplex: 'half' } as RequestInit);
    },
    async close() {
      await buildQueue.close();
      await runners.close();
      redis.disconnect();
      await embeddedRedis.stop();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
