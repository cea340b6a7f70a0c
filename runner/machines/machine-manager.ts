import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { unmountOverlay } from '../../shared/container/overlay-mount.ts';
import { machines as machineRows } from '../../shared/db/schema.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { RunnerContext } from '../runner-context.ts';
import { isMachineId } from './machine-paths.ts';
import { Machine, type MachinePlan } from './machine.ts';

/** Restart delays after a crash: 1 s, doubling up to 30 s, as a crash-looping container backs off. */
const FIRST_RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 30_000;
/** A machine that stays up this long has its restart count reset. */
const STABLE_AFTER_MS = 60_000;

/**
 * The machines of this runner, by app. It starts and destroys them, restarts a crashed
 * one with backoff, and keeps the ingress routes in step with which ones are ready.
 */
export class MachineManager {
  private readonly machines = new Map<string, Machine>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private closing = false;

  constructor(private readonly ctx: RunnerContext) {}

  ofApp(appId: string): Machine[] {
    return [...this.machines.values()].filter((machine) => machine.plan.app.id === appId);
  }

  all(): Machine[] {
    return [...this.machines.values()];
  }

  /** Creates and launches a machine and waits until it accepts connections; on failure nothing of it remains. */
  async startMachine(plan: Omit<MachinePlan, 'machineId'>, readyTimeoutMs: number): Promise<Machine> {
    const machine = await Machine.create(this.ctx, { ...plan, machineId: newMachineId() });
    this.machines.set(machine.id, machine);
    machine.onUnexpectedExit = (exited, exitCode) => this.handleExit(exited, exitCode);

    try {
      await machine.launch();
      await machine.waitUntilReady(readyTimeoutMs);
      await machine.setStatus('running');
      return machine;
    } catch (error) {
      await this.destroyMachine(machine);
      throw error;
    }
  }

  /** Puts a ready machine behind the app's host name. */
  route(machine: Machine): void {
    this.ctx.routes.add(machine.plan.app.name, { machineId: machine.id, host: machine.ipAddress, port: machine.port });
  }

  /** Takes a machine out of the routes, lets its requests finish, then destroys it. */
  async retire(machine: Machine, drainTimeoutMs: number): Promise<void> {
    await this.ctx.routes.drain(machine.plan.app.name, machine.id, drainTimeoutMs);
    await this.destroyMachine(machine);
  }

  async destroyMachine(machine: Machine): Promise<void> {
    clearTimeout(this.restartTimers.get(machine.id));
    this.restartTimers.delete(machine.id);
    this.ctx.routes.remove(machine.plan.app.name, machine.id);
    try {
      await machine.destroy();
    } finally {
      this.machines.delete(machine.id);
    }
  }

  async destroyApp(appId: string): Promise<number> {
    const appMachines = this.ofApp(appId);
    await Promise.all(appMachines.map((machine) => this.destroyMachine(machine)));
    return appMachines.length;
  }

  /**
   * Removes what a previous runner process left on this host: runc containers, overlay
   * mounts and folders of machines, network sandboxes and the database rows of this
   * runner's machines. The reconciler then starts the apps' current releases again.
   */
  async removeLeftovers(): Promise<void> {
    const { runc, network, config, db, log } = this.ctx;
    const known = new Set(this.machines.keys());

    for (const container of await runc.list()) {
      if (known.has(container.id)) continue;
      await runc.delete(container.id, { force: true }).catch((error) => log.warn({ containerId: container.id, err: error }, 'removing a leftover container failed'));
    }
    const machinesDir = path.join(config.dataDir, 'machines');
    for (const entry of await readdir(machinesDir).catch(() => [] as string[])) {
      if (known.has(entry) || !isMachineId(entry)) continue;
      await unmountOverlay(path.join(machinesDir, entry, 'rootfs')).catch(() => undefined);
      await rm(path.join(machinesDir, entry), { recursive: true, force: true });
    }
    const removed = await network.removeLeftoverSandboxes(known);
    await db.delete(machineRows).where(eq(machineRows.runnerId, config.runnerId));
    log.info({ sandboxes: removed.length }, 'leftovers removed');
  }

  /** Destroys every machine; the runner calls it when it shuts down. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    await Promise.all(this.all().map((machine) => this.destroyMachine(machine).catch((error) => machine.log.error({ err: error }, 'destroying a machine failed'))));
  }

  /**
   * Handles a process that exited on its own: removes the machine from the routes and
   * starts it again after a delay that doubles with each quick crash, as Docker's restart
   * policy does.
   */
  private handleExit(machine: Machine, exitCode: number): void {
    this.ctx.routes.remove(machine.plan.app.name, machine.id);
    if (this.closing) return;

    const delayMs = Math.min(FIRST_RESTART_DELAY_MS * 2 ** machine.restarts, MAX_RESTART_DELAY_MS);
    machine.restarts += 1;
    void machine.setStatus('failed').catch(() => undefined);
    machine.log.info({ exitCode, delayMs, restarts: machine.restarts }, 'machine restart scheduled');

    const timer = setTimeout(() => {
      this.restartTimers.delete(machine.id);
      void this.restart(machine);
    }, delayMs);
    this.restartTimers.set(machine.id, timer);
  }

  private async restart(machine: Machine): Promise<void> {
    if (this.closing || !this.machines.has(machine.id)) return;
    try {
      await machine.setStatus('starting');
      await machine.launch();
      await machine.waitUntilReady(this.ctx.config.startTimeoutMs);
      await machine.setStatus('running');
      this.route(machine);
      const startedAt = Date.now();
      setTimeout(() => {
        if (machine.status === 'running' && Date.now() - startedAt >= STABLE_AFTER_MS) machine.restarts = 0;
      }, STABLE_AFTER_MS).unref();
    } catch (error) {
      machine.log.warn({ err: errorMessage(error) }, 'machine restart failed');
      const exitCode = (await machine.readExitCode()) ?? -1;
      machine.exitCode = exitCode;
      this.handleExit(machine, exitCode);
    }
  }
}

function newMachineId(): string {
  return `m-${randomBytes(6).toString('hex')}`;
}
