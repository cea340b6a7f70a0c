import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import { runCommand } from '../../../shared/process/run-command.ts';

/** A mount destination that was missing from the root, so runc will create it. */
interface MountStub {
  /** Host path of the destination, after following links inside the root. */
  hostPath: string;
  /** Host path of the first missing component, which runc creates with everything below it. */
  firstMissing: string;
}

interface FolderMetadata {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Where runc will create mount points in a step's root, and the metadata of the existing
 * folders above them. Creating a mount point copies those folders up into the overlay's
 * upper folder; BuildKit removes such stubs after a step, and so does this.
 */
export interface MountStubRecord {
  stubs: MountStub[];
  /** Existing folders above a stub, by path relative to the root, deepest first. */
  parents: Map<string, FolderMetadata>;
}

/** Records which of the container's mount destinations are missing from `root`. Call it before the container starts. */
export async function recordMountStubs(root: string, destinations: readonly string[]): Promise<MountStubRecord> {
  const stubs: MountStub[] = [];
  const parents = new Map<string, FolderMetadata>();

  for (const destination of destinations) {
    const hostPath = await resolveInRoot(root, destination);
    const existingParents = new Map<string, FolderMetadata>();
    let current = root;
    for (const component of path.relative(root, hostPath).split(path.sep).filter(Boolean)) {
      const next = path.join(current, component);
      const stats = await lstat(next).catch(() => null);
      if (!stats) {
        stubs.push({ hostPath, firstMissing: next });
        for (const [relative, metadata] of existingParents) parents.set(relative, metadata);
        break;
      }
      if (stats.isDirectory()) existingParents.set(path.relative(root, next), { mode: stats.mode, uid: stats.uid, gid: stats.gid });
      current = next;
    }
  }

  const deepestFirst = [...parents.entries()].sort(([left], [right]) => right.split(path.sep).length - left.split(path.sep).length);
  return { stubs, parents: new Map(deepestFirst) };
}

/**
 * Removes the mount points runc created, through the mounted overlay once the container
 * is gone: empty files and folders from each stub up to its first missing component.
 * They exist only in the upper folder, so removing them leaves no whiteout. A stub that
 * is no longer empty (a step wrote below a folder runc made) is kept.
 */
export async function removeMountStubs(root: string, record: MountStubRecord): Promise<void> {
  for (const stub of record.stubs) {
    let current = stub.hostPath;
    while (current.startsWith(stub.firstMissing)) {
      if (!(await hasRealParentFolders(root, current)) || !(await removeIfEmpty(current))) break;
      if (current === stub.firstMissing) break;
      current = path.dirname(current);
    }
  }
}

/**
 * Removes, from the unmounted upper folder, the folders that were copied up only
 * because runc created a mount point in them: still empty, not opaque, and with the
 * mode and owner they had before. Their lower version then shows through unchanged.
 */
export async function pruneCopiedUpParents(upperDir: string, record: MountStubRecord): Promise<void> {
  for (const [relative, before] of record.parents) {
    const folder = path.join(upperDir, relative);
    if (!(await hasRealParentFolders(upperDir, folder))) continue;
    const stats = await lstat(folder).catch(() => null);
    if (!stats?.isDirectory()) continue;
    if (stats.mode !== before.mode || stats.uid !== before.uid || stats.gid !== before.gid) continue;
    if ((await readdir(folder)).length > 0 || (await isOpaque(folder))) continue;
    await rmdir(folder);
  }
}

/**
 * Checks that every folder between `base` and `hostPath` is a real folder, not a link.
 * The step's command may have replaced a folder with a link (even to a host path), and
 * the paths recorded before it ran must not be followed through one.
 */
async function hasRealParentFolders(base: string, hostPath: string): Promise<boolean> {
  let current = base;
  for (const component of path.relative(base, hostPath).split(path.sep).filter(Boolean).slice(0, -1)) {
    current = path.join(current, component);
    const stats = await lstat(current).catch(() => null);
    if (!stats?.isDirectory()) return false;
  }
  return true;
}

async function removeIfEmpty(hostPath: string): Promise<boolean> {
  const stats = await lstat(hostPath).catch(() => null);
  if (!stats) return true;
  if (stats.isFile() && stats.size === 0) {
    await unlink(hostPath);
    return true;
  }
  if (stats.isDirectory() && (await readdir(hostPath)).length === 0) {
    await rmdir(hostPath);
    return true;
  }
  return false;
}

/** Checks the opaque mark: an opaque folder hides everything below it in lower layers, so an empty one is a real change. */
async function isOpaque(folder: string): Promise<boolean> {
  const { stdout } = await runCommand('getfattr', ['--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', folder], { okExitCodes: [0, 1] });
  return stdout === 'y';
}
