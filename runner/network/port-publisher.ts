import net from 'node:net';
import { inArray } from 'drizzle-orm';
import type { Database } from '../../shared/db/database.ts';
import { apps, type PublishedPort } from '../../shared/db/schema.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { applyPortForwards, type PortForward } from '../../shared/network/published-ports.ts';

/** How often the published ports are compared with the apps' settings, so a change applies without a restart. */
export const PORT_SYNC_INTERVAL_MS = 5000;

/** A container whose app's published ports may point at it. */
export interface PortTarget {
  machineId: string;
  appId: string;
  ipAddress: string;
  /** When it began to serve; the newest serving container of an app takes its published ports. */
  since: number;
}

/**
 * Keeps the host's published ports (iptables DNAT, see published-ports.ts) in step with
 * the apps' `publishedPorts` and the containers that serve. Each app's ports lead to its
 * newest serving container, so a new release takes them over when it starts serving.
 * While a port is published, the runner also keeps it open (listening) on 0.0.0.0, as
 * Docker's proxy does, so no host process can take the port. A port that a host process
 * uses already is not published, and the runner logs an error instead of silently taking
 * over that process's connections.
 */
export class PortPublisher {
  private readonly targets = new Map<string, PortTarget>();
  private readonly reservations = new Map<number, net.Server>();
  private applied = '';
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> = Promise.resolve();
  private lastError = '';

  constructor(
    private readonly db: Database,
    private readonly bridgeName: string,
    private readonly containerRange: string,
    private readonly log: Logger,
  ) {}

  async serving(target: PortTarget): Promise<void> {
    this.targets.set(target.machineId, { ...target });
    this.startTimer();
    await this.sync();
  }

  async stopped(machineId: string): Promise<void> {
    if (!this.targets.delete(machineId)) return;
    await this.sync();
  }

  /** Applies the current settings now; a sync runs after the previous one has finished. */
  sync(): Promise<void> {
    this.syncing = this.syncing.then(() => this.syncNow()).catch((error) => this.logOnce(error));
    return this.syncing;
  }

  /** Stops the periodic sync and releases the reservations; the DNAT rules stay for the next runner process. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.syncing;
    for (const server of this.reservations.values()) await new Promise((resolve) => server.close(resolve));
    this.reservations.clear();
  }

  private startTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sync(), PORT_SYNC_INTERVAL_MS);
    this.timer.unref();
  }

  private async syncNow(): Promise<void> {
    const newest = new Map<string, PortTarget>();
    for (const target of this.targets.values()) {
      const current = newest.get(target.appId);
      if (!current || target.since > current.since) newest.set(target.appId, target);
    }
    if (newest.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }

    const rows = newest.size === 0 ? [] : await this.db.select({ id: apps.id, name: apps.name, publishedPorts: apps.publishedPorts }).from(apps).where(inArray(apps.id, [...newest.keys()]));
    const forwards: PortForward[] = [];
    for (const row of rows.sort((left, right) => left.name.localeCompare(right.name))) {
      const target = newest.get(row.id)!;
      for (const port of row.publishedPorts as PublishedPort[]) {
        if (forwards.some((forward) => forward.hostPort === port.host)) {
          this.log.error({ app: row.name, hostPort: port.host }, 'published port taken by another app');
          continue;
        }
        if (!(await this.reserve(port.host, row.name))) continue;
        forwards.push({ hostPort: port.host, targetAddress: target.ipAddress, targetPort: port.container });
      }
    }
    await this.release(new Set(forwards.map((forward) => forward.hostPort)));

    const key = JSON.stringify(forwards);
    if (key === this.applied) return;
    await applyPortForwards(this.bridgeName, this.containerRange, forwards);
    this.applied = key;
    this.log.info({ ports: forwards.map((forward) => `${forward.hostPort}->${forward.targetAddress}:${forward.targetPort}`) }, 'published ports applied');
  }

  /** Holds `port` open on all IPv4 addresses; false when a host process has it. */
  private async reserve(port: number, appName: string): Promise<boolean> {
    if (this.reservations.has(port)) return true;
    const server = net.createServer((socket) => socket.destroy());
    const outcome = await new Promise<true | Error>((resolve) => {
      server.once('error', resolve);
      server.listen({ port, host: '0.0.0.0', exclusive: true }, () => resolve(true));
    });
    if (outcome !== true) {
      this.logOnce(new Error(`host port ${port} of app ${appName} is in use on this host (${outcome.message}); it is not published`));
      return false;
    }
    server.unref();
    this.reservations.set(port, server);
    return true;
  }

  private async release(keep: Set<number>): Promise<void> {
    for (const [port, server] of this.reservations) {
      if (keep.has(port)) continue;
      this.reservations.delete(port);
      await new Promise((resolve) => server.close(resolve));
    }
  }

  /** Logs an error once until a different one occurs, so a lasting problem does not repeat every few seconds. */
  private logOnce(error: unknown): void {
    const message = errorMessage(error);
    if (message === this.lastError) return;
    this.lastError = message;
    this.log.error({ err: message }, 'publishing ports failed');
  }
}
