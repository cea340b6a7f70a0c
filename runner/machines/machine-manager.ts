import { randomBytes } from 'node:crypto';
import { errorMessage } from '../../shared/errors.ts';
import type { RunnerContext } from '../runner-context.ts';
import { adoptMachines } from './machine-adoption.ts';
import { Machine, type MachinePlan } from './machine.ts';

/** Restart delays after a crash: 1 s, doubling up to 30 s, as a crash-looping container backs off. */
const FIRST_RESTART_DELAY_MS = 1000;
const MAX_RESTART_DELAY_MS = 30_000;
/** A machine that stays up this long has its restart count reset. */
const STABLE_AFTER_MS = 60_000;
/** The exit code recorded for a machine replaced after failed health checks: 128 + SIGKILL, as its process is killed. */
const UNHEALTHY_EXIT_CODE = 137;

/**
 * The machines of this runner, by app. It starts, stops and destroys them, restarts a
 * crashed or unhealthy one with backoff, and keeps the ingress routes in step with which
 * ones are ready.
 */
export class MachineManager {
  private readonly rollouts = new Map<string, Promise<unknown>>();
  private readonly machines = new Map<string, Machine>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** Machines whose process the runner killed because their health check failed, with the check's last output. */
  private readonly unhealthy = new Map<string, string>();
  private closing = false;

  constructor(private readonly ctx: RunnerContext) {}

  /**
   * Records a rollout of an app while it runs, so that the scaler starts no container of
   * the release being replaced in the meantime. Such a container would race the rollout,
   * and for an app with a single-writer volume it would contend for the data folder.
   */
  trackRollout(appId: string, rollout: Promise<unknown>): void {
    this.rollouts.set(appId, rollout);
    void rollout
      .catch(() => undefined)
      .finally(() => {
        if (this.rollouts.get(appId) === rollout) this.rollouts.delete(appId);
      });
  }

  /** Returns the rollout of an app that is under way, if any. */
  rolloutOf(appId: string): Promise<unknown> | undefined {
    return this.rollouts.get(appId);
  }

  ofApp(appId: string): Machine[] {
    return [...this.machines.values()].filter((machine) => machine.plan.app.id === appId);
  }

  all(): Machine[] {
    return [...this.machines.values()];
  }

  /** Creates and launches a machine and waits until it is healthy; on failure nothing of it remains. */
  async startMachine(plan: Omit<MachinePlan, 'machineId'>, readyTimeoutMs: number): Promise<Machine> {
    const machine = await Machine.create(this.ctx, { ...plan, machineId: newMachineId() });
    this.track(machine);

    try {
      await machine.launch();
      await this.becomeReady(machine, readyTimeoutMs);
      return machine;
    } catch (error) {
      await this.destroyMachine(machine);
      throw error;
    }
  }

  /**
   * Launches a stopped machine again, which skips making its root and network sandbox,
   * waits until it is healthy and routes it. A machine that does not come up is destroyed.
   * The status rows are written beside the start, not before it, because a request waits.
   */
  async startStopped(machine: Machine, readyTimeoutMs: number): Promise<Machine> {
    try {
      await Promise.all([machine.setStatus('starting'), machine.launch()]);
      await this.becomeReady(machine, readyTimeoutMs, { route: true });
      return machine;
    } catch (error) {
      await this.destroyMachine(machine);
      throw error;
    }
  }

  /** Puts a ready machine behind the app's host name; a machine that is routed already stays as it is. */
  route(machine: Machine): void {
    if (this.ctx.routes.backendOf(machine.plan.app.name, machine.id)) return;
    this.ctx.routes.add(machine.plan.app.name, { machineId: machine.id, host: machine.ipAddress, port: machine.port });
  }

  /** Takes a machine out of the routes, lets its requests finish, then destroys it. */
  async retire(machine: Machine, drainTimeoutMs: number): Promise<void> {
    await this.ctx.routes.drain(machine.plan.app.name, machine.id, drainTimeoutMs);
    await this.destroyMachine(machine);
  }

  /**
   * Takes an idle machine out of the routes, lets its requests finish and stops its
   * process. Its root and sandbox stay for the next start unless the app has another
   * stopped machine already, in which case it is destroyed.
   */
  async park(machine: Machine, drainTimeoutMs: number): Promise<void> {
    await this.ctx.routes.drain(machine.plan.app.name, machine.id, drainTimeoutMs);
    const spare = this.ofApp(machine.plan.app.id).some((other) => other !== machine && other.status === 'stopped');
    if (spare) return this.destroyMachine(machine);

    this.cancelRestart(machine);
    await machine.stop();
    await machine.note(`${machine.id} stopped after being idle`);
  }

  async destroyMachine(machine: Machine): Promise<void> {
    this.cancelRestart(machine);
    this.ctx.routes.remove(machine.plan.app.name, machine.id);
    try {
      await machine.destroy();
    } finally {
      this.machines.delete(machine.id);
      this.unhealthy.delete(machine.id);
    }
  }

  async destroyApp(appId: string): Promise<number> {
    const appMachines = this.ofApp(appId);
    await Promise.all(appMachines.map((machine) => this.destroyMachine(machine)));
    return appMachines.length;
  }

  /**
   * Takes over the machines that a previous runner process left on this host and removes
   * whatever it left half made (see adoptMachines). A running machine is routed again, a
   * crashed one is restarted, and a stopped one is kept for the next start.
   */
  async adoptLeftovers(): Promise<void> {
    for (const { machine, exitCode } of await adoptMachines(this.ctx)) {
      this.track(machine);
      if (machine.status === 'stopped') continue;

      await machine.resume();
      if (exitCode !== null || machine.status === 'failed') {
        machine.exitCode = exitCode ?? machine.exitCode ?? -1;
        this.handleExit(machine, machine.exitCode);
        continue;
      }
      this.route(machine);
      this.watchHealth(machine);
    }
  }

  /** Stops watching every machine and leaves the containers running, for the next runner process to adopt. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();
    await Promise.all(this.all().map((machine) => machine.detach().catch((error) => machine.log.error({ err: error }, 'detaching a machine failed'))));
    this.machines.clear();
  }

  private track(machine: Machine): void {
    this.machines.set(machine.id, machine);
    machine.onUnexpectedExit = (exited, exitCode) => this.handleExit(exited, exitCode);
  }

  private async becomeReady(machine: Machine, readyTimeoutMs: number, options: { route: boolean } = { route: false }): Promise<void> {
    await machine.waitUntilReady(readyTimeoutMs);
    const recorded = machine.setStatus('running');
    if (options.route) this.route(machine);
    await recorded;
    this.watchHealth(machine);
  }

  private watchHealth(machine: Machine): void {
    machine.health.watch((output) => void this.handleUnhealthy(machine, output));
  }

  /**
   * Replaces a machine whose health check failed `retries` times in a row. It leaves the
   * routes at once, and a new machine of the same release (with a fresh root) starts
   * beside it. Once that one is healthy, the old one is destroyed. The new machine's row records
   * the reason and the old one's last output. When no replacement comes up, the old
   * machine's process is killed and restarted in place with the crash backoff instead.
   */
  private async handleUnhealthy(machine: Machine, output: string): Promise<void> {
    if (this.closing || !this.machines.has(machine.id)) return;
    this.ctx.routes.remove(machine.plan.app.name, machine.id);
    machine.log.warn({ output }, 'machine unhealthy');
    await machine.note(`${machine.id} is unhealthy and will be replaced: ${output}`);
    await machine.flushOutput();
    const exit = { exitCode: UNHEALTHY_EXIT_CODE, reason: 'unhealthy' as const, at: new Date().toISOString(), logTail: [...machine.recentOutput(), `health check: ${output}`] };

    try {
      const { machineId: _old, ...plan } = machine.plan;
      const replacement = await this.startMachine(plan, this.ctx.config.startTimeoutMs);
      replacement.restarts = machine.restarts + 1;
      await replacement.recordExit(exit);
      this.route(replacement);
      await this.destroyMachine(machine);
    } catch (error) {
      if (!this.machines.has(machine.id)) return;
      machine.log.warn({ err: errorMessage(error) }, 'replacing an unhealthy machine failed');
      this.unhealthy.set(machine.id, output);
      await this.ctx.runc.kill(machine.id, 'SIGKILL').catch((killError) => machine.log.warn({ err: killError }, 'killing an unhealthy machine failed'));
    }
  }

  /**
   * Handles a process that ended without the runner stopping it. It removes the machine
   * from the routes and records the exit code and the last lines of output. Then it starts
   * the machine again after a delay that doubles with each quick crash, as Docker's
   * restart policy does.
   */
  private handleExit(machine: Machine, exitCode: number): void {
    this.ctx.routes.remove(machine.plan.app.name, machine.id);
    machine.health.stop();
    if (this.closing) return;

    const delayMs = Math.min(FIRST_RESTART_DELAY_MS * 2 ** machine.restarts, MAX_RESTART_DELAY_MS);
    machine.restarts += 1;
    const unhealthyOutput = this.unhealthy.get(machine.id);
    this.unhealthy.delete(machine.id);
    machine.log.info({ exitCode, delayMs, restarts: machine.restarts }, 'machine restart scheduled');
    void this.recordCrash(machine, exitCode, unhealthyOutput);

    this.cancelRestart(machine);
    const timer = setTimeout(() => {
      this.restartTimers.delete(machine.id);
      void this.restart(machine);
    }, delayMs);
    this.restartTimers.set(machine.id, timer);
  }

  private async recordCrash(machine: Machine, exitCode: number, unhealthyOutput: string | undefined): Promise<void> {
    try {
      if (machine.status !== 'failed') await machine.setStatus('failed');
      await machine.flushOutput();
      const logTail = unhealthyOutput ? [...machine.recentOutput(), `health check: ${unhealthyOutput}`] : machine.recentOutput();
      await machine.recordExit({ exitCode, reason: unhealthyOutput ? 'unhealthy' : 'exited', at: new Date().toISOString(), logTail });
    } catch (error) {
      machine.log.warn({ err: errorMessage(error) }, 'recording a machine exit failed');
    }
  }

  private async restart(machine: Machine): Promise<void> {
    if (this.closing || !this.machines.has(machine.id)) return;
    try {
      await machine.setStatus('starting');
      await machine.launch();
      await this.becomeReady(machine, this.ctx.config.startTimeoutMs);
      this.route(machine);
      const startedAt = Date.now();
      setTimeout(() => {
        if (machine.status === 'running' && Date.now() - startedAt >= STABLE_AFTER_MS) machine.restarts = 0;
      }, STABLE_AFTER_MS).unref();
    } catch (error) {
      if (!this.machines.has(machine.id)) return;
      machine.log.warn({ err: errorMessage(error) }, 'machine restart failed');
      machine.exitCode = (await machine.readExitCode()) ?? -1;
      await this.ctx.runc.delete(machine.id, { force: true }).catch(() => undefined);
      this.handleExit(machine, machine.exitCode);
    }
  }

  private cancelRestart(machine: Machine): void {
    clearTimeout(this.restartTimers.get(machine.id));
    this.restartTimers.delete(machine.id);
  }
}

function newMachineId(): string {
  return `m-${randomBytes(6).toString('hex')}`;
}
