import { chmod, chown, stat } from 'node:fs/promises';
import { isShifted, shiftOwnership, unshiftOwnership } from './id-shift.ts';
import type { IdRange } from './runtime-spec.ts';

/** The ids a user namespace maps: 0 to 65535, as Docker's userns-remap and /etc/subuid ranges give. */
export const USER_NAMESPACE_SIZE = 65_536;

/**
 * Prepares an overlay's upper folder, before mounting, to be the container's `/`: mode
 * 0755 (overlayfs shows the upper folder's mode and owner at the root) and, in a user
 * namespace, owned by the mapped root.
 */
export async function prepareUpperFolder(upperDir: string, range: IdRange | undefined): Promise<void> {
  await chmod(upperDir, 0o755);
  if (range) await chown(upperDir, range.hostId, range.hostId);
}

/**
 * Adds the search bit for others to each folder, so that root of a user namespace, an
 * unprivileged user on the host, can reach the container's root and bind-mount sources
 * below them. runc resolves those paths inside the namespace. Search without read lets
 * a process open an entry by its exact name but not list the folder.
 */
export async function allowTraversal(folders: readonly string[]): Promise<void> {
  for (const folder of folders) {
    const { mode } = await stat(folder);
    if ((mode & 0o001) === 0) await chmod(folder, (mode & 0o7777) | 0o001);
  }
}

/**
 * Moves a volume folder's owners to match how the container runs: into `range` when it
 * runs in a user namespace (`userNamespace` true), back to plain ids otherwise. The
 * folder's own owner records which way it is, so an app that turns user namespaces on or
 * off keeps its data usable. Returns whether anything changed.
 */
export async function alignOwnership(folder: string, range: IdRange, userNamespace: boolean): Promise<boolean> {
  const shifted = await isShifted(folder, range);
  if (shifted === userNamespace) return false;

  if (userNamespace) await shiftOwnership(folder, range);
  else await unshiftOwnership(folder, range);
  return true;
}
