import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../shared/container/secure-path.ts';
import type { BindMount } from '../../shared/container/runtime-spec.ts';
import { runCommand } from '../../shared/process/run-command.ts';

export interface VolumeSpec {
  name: string;
  /** Absolute path inside the container. */
  path: string;
}

/** Returns a volume's folder on this host: `<dataDir>/volumes/<app id>/<volume name>`. */
export function volumeFolder(dataDir: string, appId: string, volumeName: string): string {
  return path.join(dataDir, 'volumes', appId, volumeName);
}

/**
 * Prepares the bind mounts of an app's volumes inside a container root. A new volume
 * folder is seeded with what the image has at the volume's path, as Docker does for a
 * named volume on first use. After that its contents belong to the app. The mount
 * point is created inside the root through resolveInRoot, so a symlink in the image can
 * never place it outside.
 */
export async function prepareVolumeMounts(dataDir: string, appId: string, rootfs: string, volumes: VolumeSpec[]): Promise<BindMount[]> {
  const mounts: BindMount[] = [];
  for (const volume of volumes) {
    const folder = volumeFolder(dataDir, appId, volume.name);
    const isNew = await createIfMissing(folder);
    const target = await resolveInRoot(rootfs, volume.path);

    const imageContent = await stat(target).catch(() => null);
    if (isNew && imageContent?.isDirectory() && (await readdir(target)).length > 0) {
      // cp -a keeps owners and modes, which Node's fs.cp does not: a database's data folder
      // must stay owned by the database user. `target/.` also copies the folder's own mode.
      await runCommand('cp', ['-a', '--', `${target}/.`, folder]);
    }
    if (!imageContent) await mkdir(target, { recursive: true, mode: 0o755 });

    mounts.push({ source: folder, destination: volume.path, readOnly: false });
  }
  return mounts;
}

async function createIfMissing(folder: string): Promise<boolean> {
  await mkdir(path.dirname(folder), { recursive: true, mode: 0o700 });
  try {
    await mkdir(folder, { mode: 0o755 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Deletes the volume folders of apps that no longer exist, as deleting an app on Fly.io
 * or Heroku destroys its volumes. Runs only after the app's containers are gone.
 * Returns the ids of the apps whose folders were removed.
 */
export async function removeOrphanedVolumes(dataDir: string, existingAppIds: ReadonlySet<string>, busyAppIds: ReadonlySet<string>): Promise<string[]> {
  const root = path.join(dataDir, 'volumes');
  const removed: string[] = [];
  for (const appId of await readdir(root).catch(() => [] as string[])) {
    if (existingAppIds.has(appId) || busyAppIds.has(appId)) continue;
    await rm(path.join(root, appId), { recursive: true, force: true });
    removed.push(appId);
  }
  return removed;
}
