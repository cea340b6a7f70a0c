import { isNotNull } from 'drizzle-orm';
import { apps } from '../shared/db/schema.ts';
import { errorMessage } from '../shared/errors.ts';
import type { MachineManager } from './machines/machine-manager.ts';
import type { ReleaseRollout } from './rollout/release-rollout.ts';
import type { RunnerContext } from './runner-context.ts';

/** How often the runner compares what runs with what should run, in ms. */
export const RECONCILE_INTERVAL_MS = 15_000;

/**
 * Brings this runner in line with the database: every app with a current release runs
 * it, and machines of apps that no longer exist are destroyed. Jobs make changes fast;
 * this loop repairs what a lost job or a restart of the runner left behind.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RunnerContext,
    private readonly machines: MachineManager,
    private readonly rollout: ReleaseRollout,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), RECONCILE_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Runs one pass; a pass starts only after the previous one has finished. */
  runOnce(): Promise<void> {
    this.running = this.running.then(() => this.reconcile()).catch((error) => this.ctx.log.error({ err: error }, 'reconcile failed'));
    return this.running;
  }

  private async reconcile(): Promise<void> {
    // TODO: with several runners, start only the apps that the scheduler placed here;
    // today every runner starts every app that has no machine on it.
    const wanted = await this.ctx.db.select({ id: apps.id, name: apps.name, releaseId: apps.currentReleaseId }).from(apps).where(isNotNull(apps.currentReleaseId));
    const wantedIds = new Set(wanted.map((app) => app.id));

    for (const machine of this.machines.all()) {
      if (!wantedIds.has(machine.plan.app.id)) {
        this.ctx.log.info({ machineId: machine.id, appId: machine.plan.app.id }, 'destroying machine of a removed app');
        await this.machines.destroyMachine(machine);
      }
    }

    for (const app of wanted) {
      if (this.machines.ofApp(app.id).length > 0) continue;
      try {
        await this.rollout.roll(app.id, app.releaseId!);
      } catch (error) {
        this.ctx.log.warn({ app: app.name, err: errorMessage(error) }, 'starting the current release failed');
      }
    }
  }
}
