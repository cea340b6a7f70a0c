import { and, eq, ne } from 'drizzle-orm';
import { apps, deploys, releases, volumes } from '../../shared/db/schema.ts';
import { errorMessage, NotFoundError, SlipwayError } from '../../shared/errors.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import type { MachineManager } from '../machines/machine-manager.ts';
import type { RunnerContext } from '../runner-context.ts';

/** How long an old container may finish its requests after traffic moved away from it. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * Rolls an app onto a release: a new container starts beside the running ones, takes
 * traffic once it accepts connections, and only then do the old ones drain and stop. A
 * release that does not come up is marked failed and the old containers keep serving.
 * Rollouts of one app run one at a time, in the order they were asked for.
 */
export class ReleaseRollout {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ctx: RunnerContext,
    private readonly machines: MachineManager,
  ) {}

  roll(appId: string, releaseId: string, deployId?: string): Promise<void> {
    const previous = this.queues.get(appId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.rollNow(appId, releaseId, deployId));
    this.queues.set(appId, next);
    void next.finally(() => {
      if (this.queues.get(appId) === next) this.queues.delete(appId);
    }).catch(() => undefined);
    return next;
  }

  private async rollNow(appId: string, releaseId: string, deployId?: string): Promise<void> {
    const { db, log } = this.ctx;
    const [app] = await db.select().from(apps).where(eq(apps.id, appId));
    const [release] = await db.select().from(releases).where(eq(releases.id, releaseId));
    if (!app || !release) {
      throw new NotFoundError('RELEASE_NOT_FOUND', `Release ${releaseId} of app ${appId} no longer exists.`);
    }
    const appVolumes = await db.select().from(volumes).where(eq(volumes.appId, appId));
    const rolloutLog = log.child({ app: app.name, appId, release: release.version, deployId });
    const previous = this.machines.ofApp(appId);

    await db.update(releases).set({ status: 'starting' }).where(eq(releases.id, release.id));
    rolloutLog.info('release starting');
    let machine;
    try {
      machine = await this.machines.startMachine(
        {
          app: { id: app.id, name: app.name },
          release: { id: release.id, version: release.version, imageDigest: release.imageDigest as Digest, env: release.env },
          volumes: appVolumes.map((volume) => ({ name: volume.name, path: volume.path })),
        },
        this.ctx.config.startTimeoutMs,
      );
    } catch (error) {
      const failure = { code: error instanceof SlipwayError ? error.code : 'RELEASE_FAILED', message: errorMessage(error) };
      await db.update(releases).set({ status: 'failed', error: failure }).where(eq(releases.id, release.id));
      if (deployId) await db.update(deploys).set({ status: 'failed', error: failure, finishedAt: new Date() }).where(eq(deploys.id, deployId));
      rolloutLog.warn({ err: failure.message }, 'release failed');
      throw error;
    }

    this.machines.route(machine);
    await db.transaction(async (tx) => {
      await tx.update(releases).set({ status: 'superseded' }).where(and(eq(releases.appId, appId), eq(releases.status, 'active'), ne(releases.id, release.id)));
      await tx.update(releases).set({ status: 'active' }).where(eq(releases.id, release.id));
      await tx.update(apps).set({ currentReleaseId: release.id, updatedAt: new Date() }).where(eq(apps.id, appId));
      if (deployId) await tx.update(deploys).set({ status: 'succeeded', releaseId: release.id, finishedAt: new Date() }).where(eq(deploys.id, deployId));
    });
    rolloutLog.info({ machineId: machine.id }, 'release active');
    await machine.note(`Release v${release.version} is serving traffic`);

    await Promise.all(previous.map((old) => this.machines.retire(old, DRAIN_TIMEOUT_MS)));
  }
}
