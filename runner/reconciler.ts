import { apps } from '../shared/db/schema.ts';
import type { MachineManager } from './machines/machine-manager.ts';
import { removeOrphanedVolumes } from './volumes/volume-folders.ts';
import type { RunnerContext } from './runner-context.ts';

/** How often the runner compares what runs with what should run, in ms. */
export const RECONCILE_INTERVAL_MS = 15_000;

/**
 * Brings this runner in line with the database: machines and volume folders of apps that
 * no longer exist are destroyed. Jobs make changes fast; this loop repairs what a lost job left behind.
 * Starting containers is the scaler's work: on demand, and to keep an app's `min`.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RunnerContext,
    private readonly machines: MachineManager,
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
    const existing = await this.ctx.db.select({ id: apps.id }).from(apps);
    const existingIds = new Set(existing.map((app) => app.id));

    for (const machine of this.machines.all()) {
      if (existingIds.has(machine.plan.app.id)) continue;
      this.ctx.log.info({ machineId: machine.id, appId: machine.plan.app.id }, 'destroying machine of a removed app');
      await this.machines.destroyMachine(machine);
    }

    const busy = new Set(this.machines.all().map((machine) => machine.plan.app.id));
    for (const appId of await removeOrphanedVolumes(this.ctx.config.dataDir, existingIds, busy)) {
      this.ctx.log.info({ appId }, 'volumes of a removed app deleted');
    }
  }
}
