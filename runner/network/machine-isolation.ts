import path from 'node:path';
import { eq } from 'drizzle-orm';
import { countOomKills } from '../../shared/container/oom-kills.ts';
import type { IdRange } from '../../shared/container/runtime-spec.ts';
import { ShiftedLayerCache } from '../../shared/container/shifted-layer-cache.ts';
import { alignOwnership, allowTraversal, prepareUpperFolder, USER_NAMESPACE_SIZE } from '../../shared/container/user-namespace-root.ts';
import type { Config } from '../../shared/config.ts';
import type { Database } from '../../shared/db/database.ts';
import { apps, type MachineExit } from '../../shared/db/schema.ts';
import { NotFoundError } from '../../shared/errors.ts';

/** The confinement of one app's containers: its owner's network, its limits and its user namespace. */
export interface MachineIsolation {
  owner: string;
  memoryBytes: number;
  /** CPUs of time per CFS period, as `docker run --cpus`. */
  cpus: number;
  pidsLimit: number;
  /** The host ids that root inside maps onto, or null when the app runs without a user namespace. */
  userNamespace: IdRange | null;
}

type IsolationConfig = Pick<Config, 'containerMemoryBytes' | 'containerCpus' | 'containerPidsLimit' | 'userNamespaceHostId' | 'dataDir'>;

/** Reads an app's owner and isolation settings; the runner's defaults fill the limits the app leaves unset. */
export async function loadIsolation(db: Database, config: IsolationConfig, appId: string): Promise<MachineIsolation> {
  const [app] = await db
    .select({ owner: apps.owner, memoryBytes: apps.memoryBytes, cpus: apps.cpus, pidsLimit: apps.pidsLimit, userNamespace: apps.userNamespace })
    .from(apps)
    .where(eq(apps.id, appId));
  if (!app) throw new NotFoundError('APP_NOT_FOUND', `App ${appId} no longer exists, so no container of it can start.`);

  return {
    owner: app.owner,
    memoryBytes: app.memoryBytes ?? config.containerMemoryBytes,
    cpus: app.cpus ?? config.containerCpus,
    pidsLimit: app.pidsLimit ?? config.containerPidsLimit,
    userNamespace: app.userNamespace ? userNamespaceRange(config) : null,
  };
}

export function userNamespaceRange(config: Pick<Config, 'userNamespaceHostId'>): IdRange {
  return { hostId: config.userNamespaceHostId, size: USER_NAMESPACE_SIZE };
}

/** Returns the cgroup path of a machine below each controller's hierarchy, as the runtime spec names it. */
export function machineCgroupsPath(machineId: string): string {
  return `/slipway/${machineId}`;
}

/** Returns the layer folders to mount: the unpacked layers, or their copies shifted into the user namespace range. */
export async function isolatedLayers(config: IsolationConfig, isolation: MachineIsolation, layerFolders: string[]): Promise<string[]> {
  if (!isolation.userNamespace) return layerFolders;
  const cache = new ShiftedLayerCache(path.join(config.dataDir, 'layers-userns'), isolation.userNamespace);
  return cache.ensureLayers(layerFolders);
}

/**
 * Prepares a machine's folders before its overlay is mounted. The upper folder becomes the
 * container's `/`: mode 0755, owned by the mapped root in a user namespace. In a user
 * namespace the data folder and the machine folder also get the search bit, because runc
 * reaches the root and the bind-mount sources from inside the namespace.
 */
export async function prepareMachineFolders(config: IsolationConfig, isolation: MachineIsolation, machineRoot: string, upperDir: string): Promise<void> {
  await prepareUpperFolder(upperDir, isolation.userNamespace ?? undefined);
  if (!isolation.userNamespace) return;
  await allowTraversal([config.dataDir, path.dirname(machineRoot), machineRoot]);
}

/**
 * Gives each volume folder owners that map to the container's own ids: shifted into the
 * range in a user namespace, plain otherwise (see alignOwnership). The folder's parents
 * get the search bit in a user namespace.
 * NOTE: the search bit also lets other apps' user-namespaced roots pass through
 * `volumes/<app id>/` to a folder whose name they know; the folders' own modes still apply.
 */
export async function alignVolumeFolders(config: IsolationConfig, isolation: MachineIsolation, volumeFolders: string[]): Promise<void> {
  const range = isolation.userNamespace ?? userNamespaceRange(config);
  for (const folder of volumeFolders) {
    if (isolation.userNamespace) await allowTraversal([path.dirname(path.dirname(folder)), path.dirname(folder)]);
    await alignOwnership(folder, range, isolation.userNamespace !== null);
  }
}

/**
 * Tells OOM kills of one machine apart from other exits: it remembers how many OOM kills
 * the kernel had logged for the machine's cgroup, and an exit with more is an OOM kill.
 * Machine ids are new for each machine, so a new machine starts from zero.
 */
export class OomWatch {
  private seen = 0;

  constructor(private readonly cgroupsPath: string) {}

  /** For a machine taken over from an earlier runner process: counts what is logged so far as seen. */
  async resetToCurrent(): Promise<void> {
    this.seen = (await countOomKills(this.cgroupsPath)) ?? 0;
  }

  /** Returns the exit with reason `out-of-memory` when the kernel logged a new OOM kill in the machine's cgroup. */
  async classify(exit: MachineExit, memoryLimitBytes: number): Promise<MachineExit> {
    if (exit.reason !== 'exited') return exit;
    const kills = await countOomKills(this.cgroupsPath);
    if (kills === undefined || kills <= this.seen) return exit;
    this.seen = kills;
    return { ...exit, reason: 'out-of-memory', memoryLimitBytes };
  }
}
