import { closeSync, openSync } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { writeBundle } from '../../shared/container/bundle.ts';
import { mountOverlay, type OverlayMount } from '../../shared/container/overlay-mount.ts';
import { createRuntimeSpec } from '../../shared/container/runtime-spec.ts';
import { containerInit } from './container-init.ts';
import { resolveInRoot } from '../../shared/container/secure-path.ts';
import { resolveUser } from '../../shared/container/user-resolution.ts';
import { machines, type AppHealthCheck, type MachineExit, type MachineStatus } from '../../shared/db/schema.ts';
import { errorMessage, SystemError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { APP_LOG_MAX_ENTRIES, appLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';
import { containerResolvConf } from '../../shared/network/resolv-conf.ts';
import type { NetworkSandbox } from '../../shared/network/network-sandbox.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { resolveHealthCheck, type HealthCheck } from '../health/health-check.ts';
import { HealthMonitor, UnhealthyError } from '../health/health-monitor.ts';
import { LogFileShipper } from '../logs/log-file-shipper.ts';
import { appNetworkOf } from '../network/app-network.ts';
import { alignVolumeFolders, isolatedLayers, loadIsolation, machineCgroupsPath, OomWatch, prepareMachineFolders, type MachineIsolation } from '../network/machine-isolation.ts';
import type { RunnerContext } from '../runner-context.ts';
import { prepareVolumeMounts, type VolumeSpec } from '../volumes/volume-folders.ts';
import { machinePaths, type MachinePaths } from './machine-paths.ts';
import { adoptedOverlay, adoptedSandbox, writeMachineRecord, type MachineRecord } from './machine-record.ts';
import { assertMachineTransition } from './machine-state.ts';
import { processSettings } from './process-settings.ts';

/** The plan of a machine: one release of one app, with the app's volumes. */
export interface MachinePlan {
  machineId: string;
  app: { id: string; name: string };
  release: { id: string; version: number; imageDigest: Digest; env: Record<string, string> };
  volumes: VolumeSpec[];
  /** The app's own health check; when null, the image's HEALTHCHECK applies, else a check that the port accepts connections. */
  healthCheck?: AppHealthCheck | null;
  /** Owner, limits and user namespace, read from the app when the machine is created and kept for its lifetime. */
  isolation?: MachineIsolation;
}

/** How often the runner looks for a machine's exit, in ms. */
const EXIT_POLL_MS = 250;
/** How long a stopping container gets between SIGTERM and SIGKILL, as `docker stop` gives. */
const STOP_GRACE_MS = 10_000;
/** Lines of output a machine keeps in memory, for the app's status after a crash. */
const RECENT_OUTPUT_LINES = 20;

/**
 * One container of a release on this runner: its overlay root, network sandbox, runc
 * bundle, log files and shippers. `create` acquires all of them and `destroy` releases all
 * of them. In between, the container process can be launched again after it exits or
 * after `stop`, which ends the process but keeps the root and sandbox for a fast start.
 */
export class Machine {
  status: MachineStatus = 'starting';
  exitCode: number | null = null;
  restarts = 0;
  /** When the container process was last launched, in ms since the epoch. */
  launchedAt = 0;
  /** Called once per exit of the container process that the runner did not ask for. */
  onUnexpectedExit?: (machine: Machine, exitCode: number) => void;
  readonly health: HealthMonitor;

  private monitor: NodeJS.Timeout | undefined;
  private readonly shippers: LogFileShipper[];
  private shipping = false;
  private destroyed = false;
  private readonly appLog: RedisLogStream;
  private readonly recentLines: string[] = [];

  private constructor(
    private readonly ctx: RunnerContext,
    readonly plan: MachinePlan,
    readonly paths: MachinePaths,
    readonly ipAddress: string,
    readonly port: number,
    private readonly overlay: OverlayMount,
    private readonly sandbox: NetworkSandbox,
    readonly log: Logger,
    healthCheck: HealthCheck,
  ) {
    this.appLog = new RedisLogStream(ctx.redis, appLogKey(plan.app.id), APP_LOG_MAX_ENTRIES);
    const remember = (_stream: string, line: string) => {
      this.recentLines.push(line);
      if (this.recentLines.length > RECENT_OUTPUT_LINES) this.recentLines.shift();
    };
    this.shippers = [
      new LogFileShipper(paths.stdoutLog, paths.stdoutOffset, 'stdout', this.appLog, log, remember),
      new LogFileShipper(paths.stderrLog, paths.stderrOffset, 'stderr', this.appLog, log, remember),
    ];
    const target = { host: ipAddress, port, containerId: plan.machineId, bundleDir: paths.bundle, runc: ctx.runc };
    this.health = new HealthMonitor(healthCheck, target, async () => (await this.readExitCode()) !== null, log);
  }

  get id(): string {
    return this.plan.machineId;
  }

  /** Prepares everything the container needs and records the machine as starting. */
  static async create(ctx: RunnerContext, plan: MachinePlan): Promise<Machine> {
    const log = ctx.log.child({ machineId: plan.machineId, app: plan.app.name, release: plan.release.version });
    const paths = machinePaths(ctx.config.dataDir, plan.machineId);
    const cleanups: (() => Promise<unknown>)[] = [() => rm(paths.root, { recursive: true, force: true })];
    const cleanUp = async () => {
      for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.warn({ err: error }, 'machine cleanup step failed'));
    };

    try {
      await Promise.all([paths.upper, paths.work, paths.rootfs].map((dir) => mkdir(dir, { recursive: true, mode: 0o700 })));
      const isolation = await loadIsolation(ctx.db, ctx.config, plan.app.id);
      plan = { ...plan, isolation };
      await prepareMachineFolders(ctx.config, isolation, paths.root, paths.upper);
      const image = await ctx.images.getImage(plan.release.imageDigest);
      const lowerDirs = await isolatedLayers(ctx.config, isolation, await ctx.layers.ensureImage(image));
      const overlay = await mountOverlay({ lowerDirs, upperDir: paths.upper, workDir: paths.work, target: paths.rootfs });
      cleanups.push(() => overlay.unmount());

      const settings = processSettings(image.config, plan.release.env);
      const user = await resolveUser(paths.rootfs, settings.user);
      await mkdir(await resolveInRoot(paths.rootfs, settings.cwd), { recursive: true });
      const volumeMounts = await prepareVolumeMounts(ctx.config.dataDir, plan.app.id, paths.rootfs, plan.volumes);
      await alignVolumeFolders(ctx.config, isolation, volumeMounts.map((mount) => mount.source));

      const appNetwork = appNetworkOf(ctx);
      const sandbox = await appNetwork.createSandbox(isolation.owner, plan.machineId);
      cleanups.push(() => sandbox.remove());
      await writeNetworkFiles(paths, plan.machineId, sandbox.ipAddress);
      const member = { machineId: plan.machineId, appId: plan.app.id, appName: plan.app.name, owner: isolation.owner, ipAddress: sandbox.ipAddress, hostsPath: paths.hosts };
      await appNetwork.join(member);
      cleanups.push(() => appNetwork.leave(member.machineId));

      const init = await containerInit(ctx.config.containerInit);
      const spec = await createRuntimeSpec({
        rootfs: paths.rootfs,
        args: [...(init?.argsPrefix ?? []), ...settings.args],
        env: settings.env.some((entry) => entry.startsWith('HOSTNAME=')) ? settings.env : [...settings.env, `HOSTNAME=${plan.machineId}`],
        cwd: settings.cwd,
        user,
        hostname: plan.machineId,
        networkNamespacePath: sandbox.netnsPath,
        mounts: [
          ...(init ? [init.mount] : []),
          ...volumeMounts,
          { source: paths.resolvConf, destination: '/etc/resolv.conf', readOnly: true },
          { source: paths.hosts, destination: '/etc/hosts', readOnly: true },
          { source: paths.hostname, destination: '/etc/hostname', readOnly: true },
        ],
        memoryBytes: isolation.memoryBytes,
        pidsLimit: isolation.pidsLimit,
        cpus: isolation.cpus,
        userNamespace: isolation.userNamespace ?? undefined,
        cgroupsPath: machineCgroupsPath(plan.machineId),
      });
      await writeBundle(paths.bundle, spec);

      await ctx.db.insert(machines).values({
        id: plan.machineId,
        appId: plan.app.id,
        releaseId: plan.release.id,
        runnerId: ctx.config.runnerId,
        status: 'starting',
        ipAddress: sandbox.ipAddress,
        port: settings.port,
      });
      const health = resolveHealthCheck(plan.healthCheck, image.config.config?.Healthcheck);
      await writeMachineRecord(paths, { plan, ipAddress: sandbox.ipAddress, port: settings.port, health });
      log.info({ ip: sandbox.ipAddress, port: settings.port, health: health.source }, 'machine created');
      return new Machine(ctx, plan, paths, sandbox.ipAddress, settings.port, overlay, sandbox, log, health);
    } catch (error) {
      await cleanUp();
      throw error;
    }
  }

  /**
   * Takes over a machine that an earlier runner process made, from its record and row. Its
   * root stays mounted and its sandbox stays in place across the restart. The caller then
   * resumes watching a running process or launches a stopped one.
   */
  static adopt(ctx: RunnerContext, record: MachineRecord, row: { status: MachineStatus; restarts: number }): Machine {
    const { plan } = record;
    const log = ctx.log.child({ machineId: plan.machineId, app: plan.app.name, release: plan.release.version });
    const paths = machinePaths(ctx.config.dataDir, plan.machineId);
    const overlay = adoptedOverlay(paths.rootfs);
    const sandbox = adoptedSandbox(ctx.network, plan.machineId, record.ipAddress);
    const machine = new Machine(ctx, plan, paths, record.ipAddress, record.port, overlay, sandbox, log, record.health);
    machine.status = row.status;
    machine.restarts = row.restarts;
    machine.rejoinNetwork();
    return machine;
  }

  /** Starts the container process under its shim and begins watching for its exit. */
  async launch(): Promise<void> {
    // A container that ended under its shim is gone already, because runc run deletes it on
    // exit. Checking runc's state folder is cheaper than a runc call (an estimated 10 ms).
    if (await pathExists(path.join(this.ctx.runc.stateDir, this.id))) await this.ctx.runc.delete(this.id, { force: true }).catch(() => undefined);
    // Created here with mode 0600; the launcher's shell appends to them and keeps the mode.
    for (const file of [this.paths.stdoutLog, this.paths.stderrLog]) closeSync(openSync(file, 'a', 0o600));
    this.launchedAt = Date.now();
    await this.ctx.shims.launch({
      containerId: this.id,
      bundleDir: this.paths.bundle,
      stdoutFile: this.paths.stdoutLog,
      stderrFile: this.paths.stderrLog,
      exitCodeFile: this.paths.exitCodeFile,
    });

    this.exitCode = null;
    await this.startShipping();
    this.watchForExit();
    await this.note(`Starting ${this.plan.app.name} v${this.plan.release.version} in ${this.id}`);
  }

  /** Resumes shipping logs and watching for the exit of a process that an earlier runner process launched. */
  async resume(): Promise<void> {
    this.launchedAt = Date.now();
    await this.startShipping();
    this.watchForExit();
  }

  /**
   * Resolves once the app accepts connections on its port and passes its health check.
   * Otherwise it rejects with the reason, including the app's last lines of output.
   */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    try {
      await this.health.waitUntilHealthy(timeoutMs);
    } catch (error) {
      const exitCode = await this.readExitCode();
      await this.flushOutput();
      const runcErrors = await this.ctx.runc.lastErrors(this.paths.bundle).catch(() => '');
      const reason = exitCode !== null ? `the process exited with code ${exitCode}` : errorMessage(error);
      const logTail = this.recentOutput().slice(-5);
      const output = logTail.length > 0 ? ` Last output: ${logTail.join(' | ')}.` : '';
      const code = error instanceof UnhealthyError && exitCode === null ? 'MACHINE_UNHEALTHY' : 'MACHINE_NOT_READY';
      const hint = ` See the whole output with: slipway logs --app ${this.plan.app.name}`;
      throw new SystemError(code, `${this.plan.app.name} v${this.plan.release.version} did not start: ${reason}.${runcErrors ? ` runc: ${runcErrors}` : ''}${output}${hint}`, {
        details: { machineId: this.id, exitCode, logTail },
      });
    }
  }

  async setStatus(to: MachineStatus): Promise<void> {
    if (this.status === to) return;
    assertMachineTransition(this.id, this.status, to);
    const from = this.status;
    this.status = to;
    await this.ctx.db.update(machines).set({ status: to, exitCode: this.exitCode, restarts: this.restarts, updatedAt: new Date() }).where(eq(machines.id, this.id));
    this.log.info({ from, to, exitCode: this.exitCode }, 'machine state changed');
    // Its app's name and published ports lead to a machine only while it runs.
    if (to === 'running' || from === 'running') await appNetworkOf(this.ctx).setServing(this.id, to === 'running');
  }

  /** Records why the process last ended, for the app's status; an exit by the OOM killer is recorded as `out-of-memory`. */
  async recordExit(exit: MachineExit): Promise<void> {
    const memoryLimit = this.plan.isolation?.memoryBytes ?? this.ctx.config.containerMemoryBytes;
    exit = await this.oomWatch.classify(exit, memoryLimit);
    if (exit.reason === 'out-of-memory') void this.note(`${this.id} was killed by the OOM killer at its memory limit of ${memoryLimit} bytes`);
    await this.ctx.db.update(machines).set({ lastExit: exit, exitCode: exit.exitCode, restarts: this.restarts, updatedAt: new Date() }).where(eq(machines.id, this.id));
  }

  /** Returns the container's last lines of output, oldest first. */
  recentOutput(): string[] {
    return [...this.recentLines];
  }

  /** Ships what the container has written so far. */
  async flushOutput(): Promise<void> {
    for (const shipper of this.shippers) await shipper.flush();
  }

  /**
   * Stops the container process (SIGTERM, then SIGKILL after the grace period) and keeps
   * the root, network sandbox and bundle, so that `launch` can start it again quickly.
   */
  async stop(): Promise<void> {
    if (this.destroyed || this.status === 'stopped') return;
    if (this.status !== 'stopping') await this.setStatus('stopping');
    this.halt();
    await this.stopProcess();
    await this.stopShipping(true);
    await this.ctx.runc.delete(this.id, { force: true }).catch((error) => this.log.warn({ err: error }, 'runc delete failed'));
    await this.setStatus('stopped');
  }

  /**
   * Stops watching the container and shipping its logs, and leaves the container running,
   * for a runner that shuts down; the next runner process adopts it.
   */
  async detach(): Promise<void> {
    this.halt();
    await this.stopShipping(false);
  }

  /**
   * Stops the container (SIGTERM, then SIGKILL after the grace period) and releases its
   * root, network sandbox, bundle and files. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.status !== 'stopping') await this.setStatus('stopping');
    this.halt();

    await this.stopProcess();
    await this.stopShipping(true);
    await appNetworkOf(this.ctx).leave(this.id).catch((error) => this.log.warn({ err: error }, 'leaving the app network failed'));
    await this.ctx.runc.delete(this.id, { force: true }).catch((error) => this.log.warn({ err: error }, 'runc delete failed'));
    await this.overlay.unmount().catch((error) => this.log.warn({ err: error }, 'unmounting the root failed'));
    await this.sandbox.remove().catch((error) => this.log.warn({ err: error }, 'removing the network sandbox failed'));
    await rm(this.paths.root, { recursive: true, force: true });

    this.status = 'stopped';
    await this.ctx.db.delete(machines).where(eq(machines.id, this.id));
    this.log.info('machine destroyed');
  }

  /** Writes a line about the machine into the app's log, as Heroku's router lines do. */
  async note(text: string): Promise<void> {
    await this.appLog.append({ time: Date.now(), stream: 'slipway', data: `[slipway] ${text}\n` }).catch(() => undefined);
  }

  private oom: OomWatch | undefined;

  private get oomWatch(): OomWatch {
    this.oom ??= new OomWatch(machineCgroupsPath(this.id));
    return this.oom;
  }

  /**
   * Puts an adopted machine back into its owner's names and published ports. It runs in
   * the background because adoption is synchronous; a failure is logged.
   */
  private rejoinNetwork(): void {
    const owner = this.plan.isolation?.owner;
    if (!owner) return;
    const member = { machineId: this.id, appId: this.plan.app.id, appName: this.plan.app.name, owner, ipAddress: this.ipAddress, hostsPath: this.paths.hosts };
    void appNetworkOf(this.ctx)
      .join(member, this.status === 'running')
      .catch((error) => this.log.warn({ err: error }, 'rejoining the app network failed'));
    void this.oomWatch.resetToCurrent();
  }

  async readExitCode(): Promise<number | null> {
    const text = await readFile(this.paths.exitCodeFile, 'utf8').catch(() => null);
    if (text === null || text.trim() === '') return null;
    return Number(text.trim());
  }

  private async startShipping(): Promise<void> {
    if (this.shipping) return;
    this.shipping = true;
    for (const shipper of this.shippers) await shipper.start();
  }

  private async stopShipping(final: boolean): Promise<void> {
    if (!this.shipping) return;
    this.shipping = false;
    for (const shipper of this.shippers) await shipper.stop({ final });
  }

  /** Stops the exit watch and the health checks. */
  private halt(): void {
    clearInterval(this.monitor);
    this.health.stop();
  }

  private watchForExit(): void {
    clearInterval(this.monitor);
    this.monitor = setInterval(() => {
      void this.readExitCode().then((code) => {
        // An exit while starting is seen and reported by waitUntilReady instead.
        if (code === null || this.exitCode !== null || this.status !== 'running') return;
        this.exitCode = code;
        clearInterval(this.monitor);
        this.log.warn({ exitCode: code }, 'machine exited');
        // The note goes after the process's last lines, which the shippers may not have read yet.
        void this.flushOutput().finally(() => this.note(`${this.id} exited with code ${code}`));
        this.onUnexpectedExit?.(this, code);
      });
    }, EXIT_POLL_MS);
  }

  private async stopProcess(): Promise<void> {
    if ((await this.readExitCode()) !== null) return;
    await this.ctx.runc.kill(this.id, 'SIGTERM').catch(() => undefined);

    const deadline = Date.now() + STOP_GRACE_MS;
    while (Date.now() < deadline) {
      if ((await this.readExitCode()) !== null) return;
      const state = await this.ctx.runc.state(this.id).catch(() => null);
      if (!state || state.status === 'stopped') return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.log.warn('machine ignored SIGTERM; sending SIGKILL');
    await this.ctx.runc.kill(this.id, 'SIGKILL').catch(() => undefined);
  }
}

async function pathExists(target: string): Promise<boolean> {
  return access(target).then(
    () => true,
    () => false,
  );
}

async function writeNetworkFiles(paths: MachinePaths, hostname: string, ipAddress: string): Promise<void> {
  await writeFile(paths.resolvConf, await containerResolvConf(), { mode: 0o644 });
  await writeFile(paths.hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ipAddress}\t${hostname}\n`, { mode: 0o644 });
  await writeFile(paths.hostname, `${hostname}\n`, { mode: 0o644 });
}
