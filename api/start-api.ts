import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import { createLogger } from '../shared/logger.ts';
import { BUILD_QUEUE, type BuildJob } from '../shared/queue/queue-names.ts';
import { RunnerClient } from '../shared/queue/runner-client.ts';
import { bullConnection, type Services } from '../shared/services.ts';
import { createApiApp } from './create-api-app.ts';

/** How long open requests may run on after shutdown begins, in ms. */
const CLOSE_GRACE_MS = 2000;

export interface RunningApi {
  port: number;
  close(): Promise<void>;
}

/** Serves the API on the configured address and port (port 0 picks a free one). */
export async function startApi(services: Services): Promise<RunningApi> {
  const { config } = services;
  const log = createLogger('api');
  const connection = bullConnection(services.redisLocation);
  const buildQueue = new Queue<BuildJob>(BUILD_QUEUE, { connection });
  const runners = new RunnerClient(services.database.db, connection);

  const app = createApiApp({
    config,
    db: services.database.db,
    blobs: services.blobs,
    images: services.images,
    redis: services.redis,
    buildQueue,
    runners,
    log,
  });

  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: config.bindAddress, port: config.apiPort }, () => resolve(started));
    started.once('error', reject);
  });
  // Uploads of large contexts take longer than Node's default 5-minute request timeout.
  if ('requestTimeout' in server) server.requestTimeout = 0;
  const port = (server.address() as AddressInfo).port;
  log.info({ address: config.bindAddress, port }, 'api listening');

  return {
    port,
    async close() {
      // Followers of logs keep their responses open; they get a moment to finish, then
      // their connections are closed so that shutdown never waits on a client.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const timer = setTimeout(() => 'closeAllConnections' in server && server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(timer);
      await buildQueue.close();
      await runners.close();
      log.info({ port }, 'api stopped');
    },
  };
}
