import path from 'node:path';
import { Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import { Runc } from '../shared/container/runc.ts';
import { apps, runners } from '../shared/db/schema.ts';
import { LayerCache } from '../shared/layers/layer-cache.ts';
import { createLogger } from '../shared/logger.ts';
import { BridgeNetwork } from '../shared/network/bridge-network.ts';
import { runnerQueueName, type RunnerJob } from '../shared/queue/queue-names.ts';
import { bullConnection, type Services } from '../shared/services.ts';
import { startIngress } from './ingress/ingress-server.ts';
import { RouteTable } from './ingress/route-table.ts';
import { MachineManager } from './machines/machine-manager.ts';
import { appNetworkOf } from './network/app-network.ts';
import { ShimLauncher } from './machines/shim-launcher.ts';
import { Reconciler } from './reconciler.ts';
import { ReleaseRollout } from './rollout/release-rollout.ts';
import type { RunnerContext } from './runner-context.ts';
import { AppScaler } from './scaling/app-scaler.ts';

/** How often the runner records that it is alive, in ms; see RUNNER_STALE_AFTER_MS. */
const HEARTBEAT_INTERVAL_MS = 5000;

export interface RunningRunner {
  ingressPort: number;
  machines: MachineManager;
  scaler: AppScaler;
  routes: RouteTable;
  /** Stops the runner's loops, ingress and job consumer and leaves the containers running for the next runner process. */
  close(): Promise<void>;
}

/**
 * Starts the runner: the bridge network, the machines a previous runner process left
 * (adopted, or removed when half made), the ingress, the job consumer for this runner's
 * queue, the heartbeat, the scaler and the reconcile loop.
 */
export async function startRunner(services: Services): Promise<RunningRunner> {
  const { config } = services;
  const log = createLogger('runner', { runnerId: config.runnerId });
  const network = new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(config.dataDir, 'network') });
  await network.setup();

  const runc = new Runc({ stateDir: path.join(config.dataDir, 'runc') });
  const ctx: RunnerContext = {
    config,
    db: services.database.db,
    blobs: services.blobs,
    images: services.images,
    layers: new LayerCache(path.join(config.dataDir, 'layers'), services.blobs),
    runc,
    network,
    routes: new RouteTable(),
    shims: new ShimLauncher(runc, log.child({ part: 'shim-launcher' })),
    redis: services.redis,
    log,
  };
  ctx.shims.start();
  const machines = new MachineManager(ctx);
  await machines.adoptLeftovers();
  const rollout = new ReleaseRollout(ctx, machines);
  const scaler = new AppScaler(ctx, machines);
  const reconciler = new Reconciler(ctx, machines);

  await heartbeat(ctx);
  const heartbeatTimer = setInterval(() => void heartbeat(ctx).catch((error) => log.warn({ err: error }, 'heartbeat failed')), HEARTBEAT_INTERVAL_MS);

  const ingress = await startIngress(
    {
      routes: ctx.routes,
      domain: config.domain,
      log: log.child({ part: 'ingress' }),
      acquire: (app) => scaler.acquire(app),
      noteRequest: (app) => scaler.noteRequest(app),
    },
    config.bindAddress,
    config.httpPort,
  );

  const worker = new Worker<RunnerJob>(
    runnerQueueName(config.runnerId),
    async (job) => {
      const data = job.data;
      switch (data.kind) {
        case 'release':
          await rollout.roll(data.appId, data.releaseId, data.deployId);
          return { ok: true };
        case 'stop-app': {
          const stopped = await machines.destroyApp(data.appId);
          // The app's row is gone by now, so a reconcile pass also deletes its volumes.
          await reconciler.runOnce();
          return { stopped };
        }
        case 'restart-app': {
          const [app] = await ctx.db.select().from(apps).where(eq(apps.id, data.appId));
          if (app?.currentReleaseId) await rollout.roll(app.id, app.currentReleaseId);
          return { ok: true };
        }
      }
    },
    { connection: bullConnection(services.redisLocation), concurrency: 8 },
  );
  worker.on('failed', (job, error) => log.warn({ jobId: job?.id, kind: job?.data.kind, err: error.message }, 'runner job failed'));

  void reconciler.runOnce();
  reconciler.start();
  scaler.start();
  log.info({ ingressPort: ingress.port, machines: machines.all().length }, 'runner started');

  return {
    ingressPort: ingress.port,
    machines,
    scaler,
    routes: ctx.routes,
    async close() {
      clearInterval(heartbeatTimer);
      await scaler.stop();
      await reconciler.stop();
      await worker.close();
      await ingress.close();
      await machines.close();
      ctx.shims.close();
      // Releases the published ports' reservations; their DNAT rules stay for the next runner process.
      await appNetworkOf(ctx).close();
      log.info('runner stopped');
    },
  };
}

async function heartbeat(ctx: RunnerContext): Promise<void> {
  const now = new Date();
  await ctx.db.insert(runners).values({ id: ctx.config.runnerId, lastSeenAt: now }).onConflictDoUpdate({ target: runners.id, set: { lastSeenAt: now } });
}
