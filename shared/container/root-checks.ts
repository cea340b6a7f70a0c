import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors.ts';
import { resolveInRoot } from './secure-path.ts';

/**
 * Folders where the runtime mounts kernel file systems (proc, tmpfs with device nodes,
 * sysfs). runc resolves a symbolic link there inside the root and mounts on its target,
 * so an image could move /dev or /sys onto a path it chose. They must be folders or absent.
 */
export const RUNTIME_MOUNT_FOLDERS: readonly string[] = ['/proc', '/dev', '/sys'];

/** Folders a working directory may not be in: everything below /proc leads to host kernel objects. */
const FORBIDDEN_WORKDIR_PREFIXES: readonly string[] = ['/proc'];

export class UnsafeContainerRootError extends ValidationError {
  constructor(code: 'CONTAINER_ROOT_UNSAFE' | 'CONTAINER_WORKDIR_UNSAFE', message: string, details: Record<string, unknown>) {
    super(code, message, { details });
  }
}

/**
 * Rejects an image root whose /proc, /dev or /sys is a symbolic link or not a folder.
 * A missing folder is fine: runc creates it. Reads only the top level of `rootfs`.
 */
export async function checkRuntimeMountFolders(rootfs: string): Promise<void> {
  for (const folder of RUNTIME_MOUNT_FOLDERS) {
    const hostPath = path.join(rootfs, folder);
    const stats = await lstat(hostPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (!stats || stats.isDirectory()) continue;

    const description = stats.isSymbolicLink() ? `a symbolic link to ${JSON.stringify(await readlink(hostPath))}` : 'not a folder';
    throw new UnsafeContainerRootError(
      'CONTAINER_ROOT_UNSAFE',
      `The image's ${folder} is ${description}, but the container runtime mounts its own ${folder} there: ` +
        `rebuild the image with ${folder} as an empty folder (or without it).`,
      { path: folder },
    );
  }
}

/**
 * Rejects a working directory that resolves, after following the image's symbolic links
 * inside the root, to /proc or below. runc before 1.1.12 changes into the working
 * directory while file descriptors of host folders are still open, so a WORKDIR
 * such as /proc/self/fd/7 starts the process in a host folder (CVE-2024-21626). Debian
 * patched its runc 1.1.5 in 1.1.5+ds1-1+deb12u1; this check does not rely on the patch.
 */
export async function checkWorkingDirectory(rootfs: string, cwd: string): Promise<void> {
  const lexical = path.posix.normalize(cwd);
  const resolved = containerPath(rootfs, await resolveInRoot(rootfs, cwd));

  for (const candidate of [lexical, resolved]) {
    const prefix = FORBIDDEN_WORKDIR_PREFIXES.find((forbidden) => candidate === forbidden || candidate.startsWith(`${forbidden}/`));
    if (prefix === undefined) continue;

    const via = candidate === lexical ? '' : ` (through a symbolic link, it resolves to ${resolved})`;
    throw new UnsafeContainerRootError(
      'CONTAINER_WORKDIR_UNSAFE',
      `The working directory ${JSON.stringify(cwd)} is inside ${prefix}${via}, where the runtime mounts kernel objects of the host: ` +
        'set WORKDIR to a folder of the image, such as /app.',
      { workdir: cwd, resolved },
    );
  }
}

/** Turns a host path under `rootfs` (as resolveInRoot returns) back into the container path. */
function containerPath(rootfs: string, hostPath: string): string {
  const relative = path.relative(path.resolve(rootfs), hostPath);
  return `/${relative.split(path.sep).join('/')}`.replace(/\/$/, '') || '/';
}
