import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { eq } from 'drizzle-orm';
import { writeBundle } from '../../shared/container/bundle.ts';
import { mountOverlay, type OverlayMount } from '../../shared/container/overlay-mount.ts';
import { createRuntimeSpec } from '../../shared/container/runtime-spec.ts';
import { resolveInRoot } from '../../shared/container/secure-path.ts';
import { resolveUser } from '../../shared/container/user-resolution.ts';
import { machines, type MachineStatus } from '../../shared/db/schema.ts';
import { errorMessage, SystemError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { APP_LOG_MAX_ENTRIES, appLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';
import { containerResolvConf } from '../../shared/network/resolv-conf.ts';
import type { NetworkSandbox } from '../../shared/network/network-sandbox.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { LogFileShipper } from '../logs/log-file-shipper.ts';
import type { RunnerContext } from '../runner-context.ts';
import { prepareVolumeMounts, type VolumeSpec } from '../volumes/volume-folders.ts';
import { machinePaths, type MachinePaths } from './machine-paths.ts';
import { assertMachineTransition } from './machine-state.ts';
import { processSettings } from './process-settings.ts';
import { waitForPort } from './wait-for-port.ts';

/** The plan of a machine: one release of one app, with the app's volumes. */
export interface MachinePlan {
  machineId: string;
  app: { id: string; name: string };
  release: { id: string; version: number; imageDigest: Digest; env: Record<string, string> };
  volumes: VolumeSpec[];
}

/** How often the runner looks for a machine's exit, in ms. */
const EXIT_POLL_MS = 250;
/** How long a stopping container gets between SIGTERM and SIGKILL, as `docker stop` gives. */
const STOP_GRACE_MS = 10_000;

/**
 * One container of a release on this runner: its overlay root, network sandbox, runc
 * bundle, log files and shippers. `create` acquires all of them and `destroy` releases all
 * of them; in between the container process can be launched again after it exits.
 */
export class Machine {
  status: MachineStatus = 'starting';
  exitCode: number | null = null;
  restarts = 0;
  /** Called once per exit of the container process that the runner did not ask for. */
  onUnexpectedExit?: (machine: Machine, exitCode: number) => void;

  private monitor: NodeJS.Timeout | undefined;
  private shippers: LogFileShipper[] = [];
  private readonly appLog: RedisLogStream;

  private constructor(
    private readonly ctx: RunnerContext,
    readonly plan: MachinePlan,
    readonly paths: MachinePaths,
    readonly ipAddress: string,
    readonly port: number,
    private readonly overlay: OverlayMount,
    private readonly sandbox: NetworkSandbox,
    readonly log: Logger,
  ) {
    this.appLog = new RedisLogStream(ctx.redis, appLogKey(plan.app.id), APP_LOG_MAX_ENTRIES);
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
      const image = await ctx.images.getImage(plan.release.imageDigest);
      const lowerDirs = await ctx.layers.ensureImage(image);
      const overlay = await mountOverlay({ lowerDirs, upperDir: paths.upper, workDir: paths.work, target: paths.rootfs });
      cleanups.push(() => overlay.unmount());

      const settings = processSettings(image.config, plan.release.env);
      const user = await resolveUser(paths.rootfs, settings.user);
      await mkdir(await resolveInRoot(paths.rootfs, settings.cwd), { recursive: true });
      const volumeMounts = await prepareVolumeMounts(ctx.config.dataDir, plan.app.id, paths.rootfs, plan.volumes);

      const sandbox = await ctx.network.createSandbox(plan.machineId);
      cleanups.push(() => sandbox.remove());
      await writeNetworkFiles(paths, plan.machineId, sandbox.ipAddress);

      const spec = await createRuntimeSpec({
        rootfs: paths.rootfs,
        args: settings.args,
        env: settings.env,
        cwd: settings.cwd,
        user,
        hostname: plan.machineId,
        networkNamespacePath: sandbox.netnsPath,
        mounts: [
          ...volumeMounts,
          { source: paths.resolvConf, destination: '/etc/resolv.conf', readOnly: true },
          { source: paths.hosts, destination: '/etc/hosts', readOnly: true },
          { source: paths.hostname, destination: '/etc/hostname', readOnly: true },
        ],
        memoryBytes: ctx.config.containerMemoryBytes,
        pidsLimit: ctx.config.containerPidsLimit,
        cgroupsPath: `/slipway/${plan.machineId}`,
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
      log.info({ ip: sandbox.ipAddress, port: settings.port }, 'machine created');
      return new Machine(ctx, plan, paths, sandbox.ipAddress, settings.port, overlay, sandbox, log);
    } catch (error) {
      await cleanUp();
      throw error;
    }
  }

  /** Starts the container process under its shim and begins watching for its exit. */
  async launch(): Promise<void> {
    await this.ctx.runc.delete(this.id, { force: true }).catch(() => undefined);
    const stdoutFd = openSync(this.paths.stdoutLog, 'a', 0o600);
    const stderrFd = openSync(this.paths.stderrLog, 'a', 0o600);
    try {
      await this.ctx.runc.runSupervised(this.id, this.paths.bundle, { stdoutFd, stderrFd, exitCodeFile: this.paths.exitCodeFile });
    } finally {
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }

    this.exitCode = null;
    if (this.shippers.length === 0) {
      this.shippers = [
        new LogFileShipper(this.paths.stdoutLog, 'stdout', this.appLog, this.log),
        new LogFileShipper(this.paths.stderrLog, 'stderr', this.appLog, this.log),
      ];
      for (const shipper of this.shippers) shipper.start();
    }
    this.watchForExit();
    await this.note(`Starting ${this.plan.app.name} v${this.plan.release.version} in ${this.id}`);
  }

  /** Resolves once the app accepts connections on its port; rejects with the reason it did not. */
  async waitUntilReady(timeoutMs: number): Promise<void> {
    try {
      await waitForPort(this.ipAddress, this.port, timeoutMs, async () => (await this.readExitCode()) !== null);
    } catch (error) {
      const exitCode = await this.readExitCode();
      const runcErrors = await this.ctx.runc.lastErrors(this.paths.bundle).catch(() => '');
      const reason = exitCode !== null ? `the process exited with code ${exitCode}` : errorMessage(error);
      throw new SystemError('MACHINE_NOT_READY', `${this.plan.app.name} v${this.plan.release.version} did not start: ${reason}.${runcErrors ? ` runc: ${runcErrors}` : ''}`, {
        details: { machineId: this.id, exitCode },
      });
    }
  }

  async setStatus(to: MachineStatus): Promise<void> {
    if (this.status === to) return;
    assertMachineTransition(this.id, this.status, to);
    const from = this.status;
    this.status = to;
    await this.ctx.db.update(machines).set({ status: to, exitCode: this.exitCode, updatedAt: new Date() }).where(eq(machines.id, this.id));
    this.log.info({ from, to, exitCode: this.exitCode }, 'machine state changed');
  }

  /**
   * Stops the container (SIGTERM, then SIGKILL after the grace period) and releases its
   * root, network sandbox, bundle and files. Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.status === 'stopped') return;
    if (this.status !== 'stopping') await this.setStatus('stopping');
    clearInterval(this.monitor);

    await this.stopProcess();
    for (const shipper of this.shippers) await shipper.stop();
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

  async readExitCode(): Promise<number | null> {
    const text = await readFile(this.paths.exitCodeFile, 'utf8').catch(() => null);
    if (text === null || text.trim() === '') return null;
    return Number(text.trim());
  }

  private watchForExit(): void {
    clearInterval(this.monitor);
    this.monitor = setInterval(() => {
      void this.readExitCode().then((code) => {
        if (code === null || this.exitCode !== null || this.status === 'stopping' || this.status === 'stopped') return;
        this.exitCode = code;
        clearInterval(this.monitor);
        this.log.warn({ exitCode: code }, 'machine exited');
        void this.note(`${this.id} exited with code ${code}`);
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

async function writeNetworkFiles(paths: MachinePaths, hostname: string, ipAddress: string): Promise<void> {
  await writeFile(paths.resolvConf, await containerResolvConf(), { mode: 0o644 });
  await writeFile(paths.hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ipAddress}\t${hostname}\n`, { mode: 0o644 });
  await writeFile(paths.hostname, `${hostname}\n`, { mode: 0o644 });
}
