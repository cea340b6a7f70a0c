import path from 'node:path';
import { Worker } from 'bullmq';
import { Runc } from '../shared/container/runc.ts';
import { LayerCache } from '../shared/layers/layer-cache.ts';
import { createLogger } from '../shared/logger.ts';
import { BridgeNetwork } from '../shared/network/bridge-network.ts';
import { BUILD_QUEUE, type BuildJob } from '../shared/queue/queue-names.ts';
import { RunnerClient } from '../shared/queue/runner-client.ts';
import { bullConnection, type Services } from '../shared/services.ts';
import { runBuildJob } from './build/build-job.ts';
import type { WorkerContext } from './worker-context.ts';

export interface RunningWorkers {
  close(): Promise<void>;
}

/** Starts the build worker: it takes build jobs from Redis, `buildConcurrency` at a time. */
export async function startWorkers(services: Services): Promise<RunningWorkers> {
  const { config } = services;
  const log = createLogger('build-worker');
  const connection = bullConnection(services.redisLocation);
  const network = new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(config.dataDir, 'network') });
  await network.setup();

  const runners = new RunnerClient(services.database.db, connection);
  const ctx: WorkerContext = {
    config,
    db: services.database.db,
    blobs: services.blobs,
    images: services.images,
    redis: services.redis,
    runners,
    builder: {
      layers: new LayerCache(path.join(config.dataDir, 'layers'), services.blobs),
      runc: new Runc({ stateDir: path.join(config.dataDir, 'runc-builds') }),
      network,
    },
    log,
  };

  const worker = new Worker<BuildJob>(BUILD_QUEUE, (job) => runBuildJob(ctx, job.data), {
    connection,
    concurrency: config.buildConcurrency,
    // A build holds its job for minutes; BullMQ renews the lock every half of this.
    lockDuration: 60_000,
  });
  worker.on('failed', (job, error) => log.error({ jobId: job?.id, err: error }, 'build job failed'));
  log.info({ concurrency: config.buildConcurrency }, 'build worker started');

  return {
    async close() {
      await worker.close();
      await runners.close();
      log.info('build worker stopped');
    },
  };
}
