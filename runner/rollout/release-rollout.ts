import { and, eq, ne } from 'drizzle-orm';
import { apps, deploys, releases } from '../../shared/db/schema.ts';
import { errorMessage, NotFoundError, SlipwayError } from '../../shared/errors.ts';
import type { MachineManager } from '../machines/machine-manager.ts';
import type { Machine } from '../machines/machine.ts';
import type { RunnerContext } from '../runner-context.ts';
import { loadAppRuntime, machineLimitOf, machinePlanOf, type AppRuntime } from '../scaling/app-runtime.ts';

/** How long an old container may finish its requests after traffic moved away from it. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * Rolls an app onto a release: new containers start beside the running ones, take traffic
 * once they pass their health check, and only then do the old ones drain and stop. A
 * release that does not become healthy within the start timeout is marked failed with the
 * reason, and the old containers keep serving. Rollouts of one app run one at a time, in
 * the order they were requested.
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
    this.machines.trackRollout(appId, next);
    void next.finally(() => {
      if (this.queues.get(appId) === next) this.queues.delete(appId);
    }).catch(() => undefined);
    return next;
  }

  private async rollNow(appId: string, releaseId: string, deployId?: string): Promise<void> {
    const { db, log } = this.ctx;
    const runtime = await loadAppRuntime(db, { appId }, releaseId);
    if (!runtime) throw new NotFoundError('RELEASE_NOT_FOUND', `Release ${releaseId} of app ${appId} no longer exists.`);
    const { app, release } = runtime;
    const rolloutLog = log.child({ app: app.name, appId, release: release.version, deployId });

    await db.update(releases).set({ status: 'starting', error: null }).where(eq(releases.id, release.id));
    const count = this.containersWanted(runtime);
    // An app whose volume admits one writer cannot run old and new side by side: two
    // database servers on one data folder corrupt it. Its old container stops first, as
    // `docker compose up` recreates a service, and starts again if the new one fails.
    const recreate = runtime.volumes.length > 0 && !runtime.app.allowScaleWithVolume;
    const stoppedFirst = recreate ? await this.stopForRecreate(appId, release.id) : [];
    rolloutLog.info({ containers: count, recreate }, 'release starting');
    let started: Machine[];
    try {
      started = await this.startAll(runtime, count);
    } catch (error) {
      const failure = { code: error instanceof SlipwayError ? error.code : 'RELEASE_FAILED', message: errorMessage(error) };
      await db.update(releases).set({ status: 'failed', error: failure }).where(eq(releases.id, release.id));
      if (deployId) await db.update(deploys).set({ status: 'failed', error: failure, finishedAt: new Date() }).where(eq(deploys.id, deployId));
      rolloutLog.warn({ err: failure.message }, 'release failed');
      await this.restartStopped(appId, stoppedFirst, rolloutLog);
      throw error;
    }

    for (const machine of started) this.machines.route(machine);
    await db.transaction(async (tx) => {
      await tx.update(releases).set({ status: 'superseded' }).where(and(eq(releases.appId, appId), eq(releases.status, 'active'), ne(releases.id, release.id)));
      await tx.update(releases).set({ status: 'active' }).where(eq(releases.id, release.id));
      await tx.update(apps).set({ currentReleaseId: release.id, updatedAt: new Date() }).where(eq(apps.id, appId));
      if (deployId) await tx.update(deploys).set({ status: 'succeeded', releaseId: release.id, finishedAt: new Date() }).where(eq(deploys.id, deployId));
    });
    rolloutLog.info({ machineIds: started.map((machine) => machine.id) }, 'release active');
    await started[0]?.note(`Release v${release.version} is serving traffic`);

    // Every other machine goes, including those that started on demand for the old
    // release while this one was starting.
    const old = this.machines.ofApp(appId).filter((machine) => machine.plan.release.id !== release.id);
    await Promise.all(old.map((machine) => (machine.status === 'running' ? this.machines.retire(machine, DRAIN_TIMEOUT_MS) : this.machines.destroyMachine(machine))));
  }

  /** Drains and destroys an app's containers of other releases; returns the releases they ran. */
  private async stopForRecreate(appId: string, releaseId: string): Promise<string[]> {
    const old = this.machines.ofApp(appId).filter((machine) => machine.plan.release.id !== releaseId);
    const releaseIds = [...new Set(old.filter((machine) => machine.status === 'running').map((machine) => machine.plan.release.id))];
    await Promise.all(old.map((machine) => (machine.status === 'running' ? this.machines.retire(machine, DRAIN_TIMEOUT_MS) : this.machines.destroyMachine(machine))));
    return releaseIds;
  }

  /** Starts the release that ran before a failed recreate again, so the app keeps serving. */
  private async restartStopped(appId: string, releaseIds: string[], rolloutLog: RunnerContext['log']): Promise<void> {
    const previousReleaseId = releaseIds[0];
    if (!previousReleaseId) return;

    try {
      const runtime = await loadAppRuntime(this.ctx.db, { appId }, previousReleaseId);
      if (!runtime) return;
      const [machine] = await this.startAll(runtime, 1);
      if (machine) this.machines.route(machine);
      rolloutLog.info({ releaseId: previousReleaseId }, 'previous release restarted');
    } catch (error) {
      rolloutLog.error({ err: error, releaseId: previousReleaseId }, 'restarting the previous release failed');
    }
  }

  /** As many containers as run now, at least one and the app's `min`, at most its limit. */
  private containersWanted(runtime: AppRuntime): number {
    const running = this.machines.ofApp(runtime.app.id).filter((machine) => machine.status === 'running').length;
    return Math.min(Math.max(1, runtime.app.minMachines, running), machineLimitOf(runtime.app, runtime.volumes.length));
  }

  /** Starts `count` machines at once; when one fails, the others are destroyed and its error is thrown. */
  private async startAll(runtime: AppRuntime, count: number): Promise<Machine[]> {
    const plan = machinePlanOf(runtime);
    const results = await Promise.allSettled(Array.from({ length: count }, () => this.machines.startMachine(plan, this.ctx.config.startTimeoutMs)));
    const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = results.find((result) => result.status === 'rejected');
    if (!failed) return started;

    await Promise.all(started.map((machine) => this.machines.destroyMachine(machine)));
    throw failed.reason;
  }
}
