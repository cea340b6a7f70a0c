import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors.ts';

/**
 * Maximum number of symbolic links followed while resolving one path. Linux stops at 40
 * (MAXSYMLINKS) and fails with ELOOP, so a path that resolves here resolves in the container.
 */
export const MAX_SYMLINKS = 40;

/**
 * Resolves `unsafePath` the way a process whose root directory is `root` would see it, and
 * returns the matching host path, which always stays under `root`.
 *
 * Each component that is a symbolic link is read and followed relative to `root`: an
 * absolute target restarts at `root`, and `..` stops at `root` as it does at `/`. Components
 * that do not exist (yet) are appended as written, so the result may name a path to create.
 * The result is only safe while nothing else changes the tree, because a link created after
 * this call is not seen: call it when no container runs in `root`.
 */
export async function resolveInRoot(root: string, unsafePath: string): Promise<string> {
  if (!path.isAbsolute(root)) {
    throw new ValidationError('ROOT_PATH_INVALID', `Container root ${JSON.stringify(root)} is not an absolute path: pass an absolute folder.`);
  }
  const hostRoot = path.resolve(root);

  const pending = splitComponents(unsafePath);
  const resolved: string[] = [];
  let linksFollowed = 0;

  while (pending.length > 0) {
    const component = pending.shift() as string;
    if (component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }

    const hostPath = path.join(hostRoot, ...resolved, component);
    const target = await readLinkIfSymlink(hostPath);
    if (target === undefined) {
      resolved.push(component);
      continue;
    }

    linksFollowed += 1;
    if (linksFollowed > MAX_SYMLINKS) {
      throw new ValidationError(
        'PATH_SYMLINK_LOOP',
        `Resolving ${JSON.stringify(unsafePath)} in the container followed more than ${MAX_SYMLINKS} symbolic links: ` +
          'the path contains a symlink loop. Remove the loop or use a path without it.',
        { details: { path: unsafePath } },
      );
    }
    if (path.posix.isAbsolute(target)) resolved.length = 0;
    pending.unshift(...splitComponents(target));
  }

  return path.join(hostRoot, ...resolved);
}

/** Splits a container path into its components; empty components (`//`) are dropped. */
function splitComponents(containerPath: string): string[] {
  return containerPath.split('/').filter((component) => component !== '');
}

/**
 * Returns the target of `hostPath` when it is a symbolic link, and undefined when it is
 * anything else or does not exist. A missing parent or a file used as a folder (ENOTDIR)
 * counts as missing, so the rest of the path is appended as written.
 */
async function readLinkIfSymlink(hostPath: string): Promise<string | undefined> {
  try {
    const stats = await lstat(hostPath);
    if (!stats.isSymbolicLink()) return undefined;
    return await readlink(hostPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}
