import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { IdRange } from './runtime-spec.ts';

/** Entries changed at once; lchown is cheap, so this only keeps the event loop and file handles busy, not flooded. */
const CONCURRENCY = 64;
/** setuid, setgid and sticky bits, which chown(2) clears on files and which are put back afterwards. */
const SPECIAL_MODE_BITS = 0o7000;

export interface ShiftResult {
  entries: number;
  /** Entries whose uid or gid lies outside the range; they keep their ids and appear as the overflow id (nobody) inside. */
  unmapped: number;
}

/**
 * Moves the owners of every entry under `folder` (itself included) from container ids to the
 * host ids of a user namespace, so that `uid` becomes `range.hostId + uid`, as the
 * namespace will show them again. Symbolic links are changed themselves, not followed.
 *
 * chown(2) clears setuid and setgid bits, so they are written back. It also drops
 * security.capability xattrs.
 * NOTE: file capabilities in an image are lost for containers in a user namespace.
 */
export async function shiftOwnership(folder: string, range: IdRange): Promise<ShiftResult> {
  return walkOwnership(folder, (id) => (id < range.size ? range.hostId + id : undefined));
}

/** Undoes shiftOwnership: host ids of the range go back to container ids. */
export async function unshiftOwnership(folder: string, range: IdRange): Promise<ShiftResult> {
  return walkOwnership(folder, (id) => (id >= range.hostId && id < range.hostId + range.size ? id - range.hostId : undefined));
}

/** Checks whether a folder's own owner is in the range, which is how volumes record their current mapping. */
export async function isShifted(folder: string, range: IdRange): Promise<boolean> {
  const stats = await lstat(folder);
  return stats.uid >= range.hostId && stats.uid < range.hostId + range.size;
}

type IdMap = (id: number) => number | undefined;

async function walkOwnership(folder: string, map: IdMap): Promise<ShiftResult> {
  const result: ShiftResult = { entries: 0, unmapped: 0 };
  const pending: string[] = [folder];
  const running = new Set<Promise<void>>();

  const visit = async (entryPath: string): Promise<void> => {
    const stats = await lstat(entryPath);
    await changeOwner(entryPath, stats, map, result);
    if (stats.isDirectory()) {
      for (const name of await readdir(entryPath)) pending.push(path.join(entryPath, name));
    }
  };

  // After the first failure nothing new starts, and the walk waits for what runs before it throws.
  let failure: { error: unknown } | undefined;
  while ((pending.length > 0 && !failure) || running.size > 0) {
    while (!failure && pending.length > 0 && running.size < CONCURRENCY) {
      const task: Promise<void> = visit(pending.pop() as string)
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
    if (running.size > 0) await Promise.race(running);
  }
  if (failure) throw failure.error;
  return result;
}

async function changeOwner(entryPath: string, stats: Awaited<ReturnType<typeof lstat>>, map: IdMap, result: ShiftResult): Promise<void> {
  result.entries += 1;
  const uid = map(Number(stats.uid));
  const gid = map(Number(stats.gid));
  if (uid === undefined || gid === undefined) result.unmapped += 1;
  if (uid === undefined && gid === undefined) return;

  await lchown(entryPath, uid ?? Number(stats.uid), gid ?? Number(stats.gid));
  const special = Number(stats.mode) & SPECIAL_MODE_BITS;
  if (special !== 0 && !stats.isSymbolicLink()) await chmod(entryPath, Number(stats.mode) & 0o7777);
}
