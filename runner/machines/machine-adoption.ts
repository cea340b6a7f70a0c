import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { eq, inArray } from 'drizzle-orm';
import { isMountPoint, unmountOverlay } from '../../shared/container/overlay-mount.ts';
import { machines as machineRows } from '../../shared/db/schema.ts';
import { namespaceExists, netnsNameFor } from '../../shared/network/network-sandbox.ts';
import type { RunnerContext } from '../runner-context.ts';
import { isMachineId, machinePaths } from './machine-paths.ts';
import { readMachineRecord } from './machine-record.ts';
import { Machine } from './machine.ts';

export interface AdoptedMachine {
  machine: Machine;
  /** The exit code when the process ended while no runner watched it, else null. */
  exitCode: number | null;
}

type MachineRow = typeof machineRows.$inferSelect;

/**
 * Finds the machines that an earlier runner process on this host left, from three sources
 * that must agree: the machines table (rows of this runner), the machine folders with
 * their record, and runc's state. A machine is adopted when its row and record exist, it
 * is not halfway through a start or a stop, and its root is still mounted and its network
 * namespace still there. A running one must still be running in runc or have left its
 * exit code. Everything else is removed: runc containers, mounts, folders, network
 * sandboxes and rows that belong to no adopted machine.
 */
export async function adoptMachines(ctx: RunnerContext): Promise<AdoptedMachine[]> {
  const { db, runc, config, log } = ctx;
  const rows = await db.select().from(machineRows).where(eq(machineRows.runnerId, config.runnerId));
  const containers = new Map((await runc.list()).map((container) => [container.id, container]));
  const adopted: AdoptedMachine[] = [];

  for (const row of rows) {
    const candidate = await adoptOne(ctx, row, containers.get(row.id)?.status);
    if (candidate) adopted.push(candidate);
  }

  const kept = new Set(adopted.map(({ machine }) => machine.id));
  const removedRows = rows.filter((row) => !kept.has(row.id)).map((row) => row.id);
  await removeLeftovers(ctx, kept, [...containers.keys()], removedRows);
  log.info({ adopted: kept.size, removed: removedRows.length }, 'machines adopted');
  return adopted;
}

async function adoptOne(ctx: RunnerContext, row: MachineRow, containerStatus: string | undefined): Promise<AdoptedMachine | null> {
  const paths = machinePaths(ctx.config.dataDir, row.id);
  const record = await readMachineRecord(paths);
  const reject = (reason: string) => {
    ctx.log.info({ machineId: row.id, status: row.status, reason }, 'leftover machine removed');
    return null;
  };

  if (!record || record.plan.machineId !== row.id) return reject('no machine record');
  if (row.status === 'starting' || row.status === 'stopping') return reject(`it was ${row.status}`);
  if (!(await isMountPoint(paths.rootfs))) return reject('its root is not mounted');
  if (!(await namespaceExists(netnsNameFor(ctx.network.namePrefix, row.id)))) return reject('its network namespace is gone');

  const machine = Machine.adopt(ctx, record, row);
  if (row.status !== 'running') return { machine, exitCode: null };

  const exitCode = await machine.readExitCode();
  if (exitCode === null && containerStatus !== 'running') return reject('runc does not run it and it left no exit code');
  return { machine, exitCode };
}

/** Removes what no adopted machine owns. Each step logs and goes on, so one stuck part does not keep the runner from starting. */
async function removeLeftovers(ctx: RunnerContext, kept: Set<string>, containerIds: string[], rowIds: string[]): Promise<void> {
  const { runc, network, config, db, log } = ctx;

  for (const id of containerIds) {
    if (kept.has(id)) continue;
    await runc.delete(id, { force: true }).catch((error) => log.warn({ containerId: id, err: error }, 'removing a leftover container failed'));
  }

  const machinesDir = path.join(config.dataDir, 'machines');
  for (const entry of await readdir(machinesDir).catch(() => [] as string[])) {
    if (kept.has(entry) || !isMachineId(entry)) continue;
    try {
      await unmountOverlay(path.join(machinesDir, entry, 'rootfs'));
      await rm(path.join(machinesDir, entry), { recursive: true, force: true });
    } catch (error) {
      log.warn({ machineId: entry, err: error }, 'removing a leftover machine folder failed');
    }
  }

  const sandboxes = await network.removeLeftoverSandboxes(kept).catch((error) => {
    log.warn({ err: error }, 'removing leftover network sandboxes failed');
    return [];
  });
  if (rowIds.length > 0) await db.delete(machineRows).where(inArray(machineRows.id, rowIds));
  log.info({ sandboxes: sandboxes.length, rows: rowIds.length }, 'leftovers removed');
}
