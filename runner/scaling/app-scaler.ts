import { setTimeout as delay } from 'node:timers/promises';
import { and, eq, gt, isNotNull } from 'drizzle-orm';
import { apps } from '../../shared/db/schema.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { Backend } from '../ingress/route-table.ts';
import type { MachineManager } from '../machines/machine-manager.ts';
import type { Machine } from '../machines/machine.ts';
import type { RunnerContext } from '../runner-context.ts';
import { loadAppRuntime, machineLimitOf, machinePlanOf, type AppRuntime } from './app-runtime.ts';

/** The outcome of a request for an app that has no ready container: a backend, an unknown app, or 503. */
export type AcquireResult =
  | { kind: 'ready'; backend: Backend }
  | { kind: 'unknown-app' }
  | { kind: 'unavailable'; message: string; retryAfterS: number };

/** How often the scaler stops idle containers and starts the ones that `min` requires, in ms. */
export const SCALE_INTERVAL_MS = 1000;
/** How long the scaler reuses an app's settings before it reads them again, in ms. */
const SETTINGS_TTL_MS = 1000;
/** An idle container has no request in flight, so its drain ends at once; this bounds a request that starts meanwhile. */
const IDLE_DRAIN_TIMEOUT_MS = 30_000;
/** How often a request that waits for a restarting container looks for its route, in ms. */
const ROUTE_POLL_MS = 10;

/**
 * Starts an app's containers on demand and stops them when idle. A request for an app with
 * no ready container starts one (a stopped one first, whose root and network sandbox are
 * kept, else a new one) and waits for it up to the start timeout. When every ready
 * container has `concurrency` requests in flight, another starts, up to the app's limit. A
 * container with no request in flight and none for `idle_timeout_s` stops, down to `min`.
 * The last one also waits until no client connection for the app is open.
 */
export class AppScaler {
  private readonly starts = new Map<string, Promise<Machine>>();
  private readonly settings = new Map<string, { runtime: AppRuntime; readAt: number }>();
  /** Machines being stopped for idleness; a stop can take the whole grace period, so it runs beside the passes. */
  private readonly parking = new Map<string, Promise<void>>();
  private readonly refreshing = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: RunnerContext,
    private readonly machines: MachineManager,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.scaleOnce()).catch((error) => this.ctx.log.warn({ err: errorMessage(error) }, 'scaling pass failed'));
    }, SCALE_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await Promise.all(this.parking.values());
  }

  /** Returns a ready backend for the app, starting a container first when it has none. */
  async acquire(appName: string): Promise<AcquireResult> {
    const ready = this.ctx.routes.pick(appName);
    if (ready) return { kind: 'ready', backend: ready };

    // A stopped machine is of the release this runner last rolled out (a rollout destroys
    // the others), so it starts without reading the app from the database first.
    const stopped = this.machines.all().find((machine) => machine.plan.app.name === appName && machine.status === 'stopped');
    if (stopped && !this.machines.rolloutOf(stopped.plan.app.id)) {
      return this.waitForStart(appName, this.shareStart(stopped.plan.app.id, () => this.launch(stopped)));
    }

    const runtime = await this.refresh(appName);
    if (runtime === 'unknown-app') return { kind: 'unknown-app' };
    if (!runtime) return unavailable(`App ${appName} has no release yet: deploy it with "slipway deploy DIR --app ${appName}".`, 5);

    const crashed = this.current(runtime).find((machine) => machine.status === 'failed');
    if (crashed && !this.starts.has(runtime.app.id)) {
      const exit = crashed.exitCode === null ? '' : ` with code ${crashed.exitCode}`;
      return unavailable(`App ${appName} is restarting after its process exited${exit}; see "slipway status --app ${appName}".`, 5);
    }

    return this.waitForStart(appName, this.ensureMachine(runtime));
  }

  /** Waits up to the start timeout for a start, then returns a backend or why there is none. */
  private async waitForStart(appName: string, start: Promise<Machine>): Promise<AcquireResult> {
    const timeoutMs = this.ctx.config.startTimeoutMs;
    const started = start.then(
      () => 'started' as const,
      (error: unknown) => error,
    );
    const outcome = await Promise.race([started, delay(timeoutMs, 'timeout' as const, { ref: false })]);
    const backend = this.ctx.routes.pick(appName);
    if (backend) return { kind: 'ready', backend };
    if (outcome === 'timeout') return unavailable(`App ${appName} did not start within ${Math.round(timeoutMs / 1000)} s; try again shortly.`, 5);
    if (outcome !== 'started') return unavailable(`App ${appName} failed to start: ${errorMessage(outcome)}`, 5);
    return unavailable(`App ${appName} has no ready container; try again shortly.`, 1);
  }

  /**
   * Called by the ingress once a request is in flight: starts another container in the
   * background when every ready one has reached the app's `concurrency`.
   */
  noteRequest(appName: string): void {
    const cached = this.settings.get(appName);
    if ((!cached || Date.now() - cached.readAt > SETTINGS_TTL_MS) && !this.refreshing.has(appName)) {
      // One read at a time per app: under load, every request would otherwise start one.
      const read = this.refresh(appName)
        .catch(() => undefined)
        .finally(() => this.refreshing.delete(appName));
      this.refreshing.set(appName, read);
    }
    if (!cached) return;

    const { app, volumes } = cached.runtime;
    if (!this.ctx.routes.isSaturated(appName, app.concurrency)) return;
    if (this.starts.has(app.id) || this.active(cached.runtime).length >= machineLimitOf(app, volumes.length)) return;
    void this.ensureMachine(cached.runtime).catch((error) => this.ctx.log.warn({ app: appName, err: errorMessage(error) }, 'scaling up failed'));
  }

  /** Runs one pass, which stops idle containers and starts the ones that `min` requires. Public for tests. */
  async scaleOnce(): Promise<void> {
    const appIds = new Set(this.machines.all().map((machine) => machine.plan.app.id));
    const withMinimum = await this.ctx.db
      .select({ id: apps.id })
      .from(apps)
      .where(and(isNotNull(apps.currentReleaseId), gt(apps.minMachines, 0)));
    for (const { id } of withMinimum) appIds.add(id);

    for (const appId of appIds) {
      const runtime = await loadAppRuntime(this.ctx.db, { appId });
      if (!runtime) continue;
      this.settings.set(runtime.app.name, { runtime, readAt: Date.now() });
      this.stopIdle(runtime);
      await this.keepMinimum(runtime);
    }
  }

  private stopIdle(runtime: AppRuntime): void {
    const { app } = runtime;
    const running = this.current(runtime).filter((machine) => machine.status === 'running' && !this.parking.has(machine.id));
    const idleForMs = app.idleTimeoutS * 1000;
    let remaining = running.length;

    for (const machine of running) {
      if (remaining <= app.minMachines) return;
      const backend = this.ctx.routes.backendOf(app.name, machine.id);
      if (!backend || backend.inFlight > 0 || Date.now() - backend.lastActiveAt < idleForMs) continue;
      if (remaining === 1 && this.ctx.routes.openConnections(app.name) > 0) continue;

      machine.log.info({ idleTimeoutS: app.idleTimeoutS }, 'machine idle');
      const parked = this.machines
        .park(machine, IDLE_DRAIN_TIMEOUT_MS)
        .catch((error) => machine.log.warn({ err: errorMessage(error) }, 'stopping an idle machine failed'))
        .finally(() => this.parking.delete(machine.id));
      this.parking.set(machine.id, parked);
      remaining -= 1;
    }
  }

  // TODO: with several runners, each one keeps `min` containers of every app; the
  // scheduler has to place an app's minimum on one runner.
  private async keepMinimum(runtime: AppRuntime): Promise<void> {
    const { app, volumes } = runtime;
    const wanted = Math.min(app.minMachines, machineLimitOf(app, volumes.length));
    if (this.active(runtime).length >= wanted || this.starts.has(app.id) || this.machines.rolloutOf(app.id)) return;
    await this.ensureMachine(runtime).catch((error) => this.ctx.log.warn({ app: app.name, err: errorMessage(error) }, 'starting the minimum of containers failed'));
  }

  /**
   * Starts one more machine of the app's current release and routes it; concurrent callers
   * for the same app share one start. A machine that is restarting is waited for instead.
   */
  private ensureMachine(runtime: AppRuntime): Promise<Machine> {
    const rollout = this.machines.rolloutOf(runtime.app.id);
    if (rollout) return rollout.catch(() => undefined).then(() => this.machineAfterRollout(runtime));
    return this.shareStart(runtime.app.id, () => this.startOne(runtime));
  }

  /** Returns a routed machine once a rollout has ended, starting one of the then current release when none runs. */
  private async machineAfterRollout(runtime: AppRuntime): Promise<Machine> {
    const routed = this.machines.ofApp(runtime.app.id).find((machine) => this.ctx.routes.backendOf(runtime.app.name, machine.id));
    if (routed) return routed;

    const fresh = await loadAppRuntime(this.ctx.db, { appId: runtime.app.id });
    if (!fresh) throw new Error(`app ${runtime.app.name} has no release to start`);
    return this.shareStart(fresh.app.id, () => this.startOne(fresh));
  }

  /** Runs `start` unless a start of the app is in flight already, whose promise is returned instead. */
  private shareStart(appId: string, start: () => Promise<Machine>): Promise<Machine> {
    const pending = this.starts.get(appId);
    if (pending) return pending;

    const started = start().finally(() => this.starts.delete(appId));
    this.starts.set(appId, started);
    return started;
  }

  /** Starts a stopped machine again (its root and network sandbox are kept) and routes it. */
  private async launch(stopped: Machine): Promise<Machine> {
    const machine = await this.machines.startStopped(stopped, this.ctx.config.startTimeoutMs);
    this.machines.route(machine);
    machine.log.info({ warm: true, launchMs: Date.now() - machine.launchedAt }, 'machine started on demand');
    return machine;
  }

  private async startOne(runtime: AppRuntime): Promise<Machine> {
    const timeoutMs = this.ctx.config.startTimeoutMs;
    const machines = this.current(runtime);
    const restarting = machines.find((machine) => machine.status === 'starting');
    if (restarting && !this.ctx.routes.pick(runtime.app.name)) return this.waitForRoute(restarting, timeoutMs);

    const stopped = machines.find((machine) => machine.status === 'stopped');
    if (stopped) return this.launch(stopped);

    const machine = await this.machines.startMachine(machinePlanOf(runtime), timeoutMs);
    this.machines.route(machine);
    machine.log.info({ warm: false, launchMs: Date.now() - machine.launchedAt }, 'machine started on demand');
    return machine;
  }

  private async waitForRoute(machine: Machine, timeoutMs: number): Promise<Machine> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && machine.status === 'starting') await delay(ROUTE_POLL_MS);
    if (this.ctx.routes.backendOf(machine.plan.app.name, machine.id)) return machine;
    throw new Error(`container ${machine.id} did not become ready (${machine.status})`);
  }

  /** Returns the app's machines of its current release. */
  private current(runtime: AppRuntime): Machine[] {
    return this.machines.ofApp(runtime.app.id).filter((machine) => machine.plan.release.id === runtime.release.id);
  }

  /** Machines that run or are on their way to running, a crashed one waiting for its restart included. */
  private active(runtime: AppRuntime): Machine[] {
    return this.current(runtime).filter((machine) => machine.status === 'running' || machine.status === 'starting' || machine.status === 'failed');
  }

  /** Reads an app's settings and current release by name; `unknown-app` when there is no such app, null when it has no release. */
  private async refresh(appName: string): Promise<AppRuntime | null | 'unknown-app'> {
    const runtime = await loadAppRuntime(this.ctx.db, { appName });
    if (runtime) {
      this.settings.set(appName, { runtime, readAt: Date.now() });
      return runtime;
    }
    this.settings.delete(appName);
    const [exists] = await this.ctx.db.select({ id: apps.id }).from(apps).where(eq(apps.name, appName));
    return exists ? null : 'unknown-app';
  }
}

function unavailable(message: string, retryAfterS: number): AcquireResult {
  return { kind: 'unavailable', message, retryAfterS };
}
