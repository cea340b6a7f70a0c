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
import { Reconciler } from './reconciler.ts';
import { ReleaseRollout } from './rollout/release-rollout.ts';
import type { RunnerContext } from './runner-context.ts';

/** How often the runner records that it is alive, in ms; see RUNNER_STALE_AFTER_MS. */
const HEARTBEAT_INTERVAL_MS = 5000;

export interface RunningRunner {
  ingressPort: number;
  machines: MachineManager;
  close(): Promise<void>;
}

/**
 * Starts the runner: the bridge network, a clean slate of machines, the ingress, the
 * job consumer for this runner's queue, the heartbeat and the reconcile loop.
 */
export async function startRunner(services: Services): Promise<RunningRunner> {
  const { config } = services;
  const log = createLogger('runner', { runnerId: config.runnerId });
  const network = new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(config.dataDir, 'network') });
  await network.setup();

  const ctx: RunnerContext = {
    config,
    db: services.database.db,
    blobs: services.blobs,
    images: services.images,
    layers: new LayerCache(path.join(config.dataDir, 'layers'), services.blobs),
    runc: new Runc({ stateDir: path.join(config.dataDir, 'runc') }),
    network,
    routes: new RouteTable(),
    redis: services.redis,
    log,
  };
  const machines = new MachineManager(ctx);
  // TODO: adopt the containers a previous runner process left running instead of
  // replacing them; until then a runner restart restarts every app on this host.
  await machines.removeLeftovers();
  const rollout = new ReleaseRollout(ctx, machines);

  await heartbeat(ctx);
  const heartbeatTimer = setInterval(() => void heartbeat(ctx).catch((error) => log.warn({ err: error }, 'heartbeat failed')), HEARTBEAT_INTERVAL_MS);

  const ingress = await startIngress(
    {
      routes: ctx.routes,
      domain: config.domain,
      log: log.child({ part: 'ingress' }),
      appExists: async (name) => (await ctx.db.select({ id: apps.id }).from(apps).where(eq(apps.name, name))).length > 0,
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
        case 'stop-app':
          return { stopped: await machines.destroyApp(data.appId) };
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

  const reconciler = new Reconciler(ctx, machines, rollout);
  void reconciler.runOnce();
  reconciler.start();
  log.info({ ingressPort: ingress.port }, 'runner started');

  return {
    ingressPort: ingress.port,
    machines,
    async close() {
      clearInterval(heartbeatTimer);
      await reconciler.stop();
      await worker.close();
      await ingress.close();
      await machines.close();
      log.info('runner stopped');
    },
  };
}

async function heartbeat(ctx: RunnerContext): Promise<void> {
  const now = new Date();
  await ctx.db.insert(runners).values({ id: ctx.config.runnerId, lastSeenAt: now }).onConflictDoUpdate({ target: runners.id, set: { lastSeenAt: now } });
}
