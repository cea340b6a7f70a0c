import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors.ts';

export class UnsafeEntryError extends ValidationError {
  constructor(entry: string, reason: string) {
    super('LAYER_ENTRY_UNSAFE', `Tar entry ${JSON.stringify(entry)} ${reason}; the archive was rejected and nothing of it was kept.`, {
      details: { entry },
    });
  }
}

/**
 * Cleans a tar entry name: as docker does, a leading `/` is dropped and `.` and `..` are
 * resolved. Returns the path relative to the extraction root ('' for the root). A `..`
 * that climbs above the root fails, also in an absolute name such as `/../x`, which
 * docker would clamp to `x`. A name with a NUL byte fails too.
 */
export function cleanEntryPath(name: string): string {
  if (name.includes('\0')) throw new UnsafeEntryError(name, 'contains a NUL byte');

  const normalized = path.posix.normalize(name.replace(/^\/+/, '') || '.');
  if (normalized === '..' || normalized.startsWith('../')) throw new UnsafeEntryError(name, 'climbs out of the target folder');

  const trimmed = normalized.replace(/\/+$/, '');
  return trimmed === '.' ? '' : trimmed;
}

/**
 * An extraction root that this process alone writes to. It creates and checks the
 * directories above each entry without following symlinks, so no entry is written
 * through a symlink that an earlier entry created. Checked directories are cached.
 */
export class SafeTree {
  private readonly directories = new Set<string>(['']);

  constructor(readonly root: string) {}

  absolute(relativePath: string): string {
    return relativePath === '' ? this.root : path.join(this.root, relativePath);
  }

  /**
   * Makes sure every ancestor of `relativePath` is a real directory, creating missing
   * ones with mode 0755 when `create` is set. `entry` names the tar entry in errors.
   */
  async ensureParents(relativePath: string, entry: string, create = true): Promise<void> {
    const parts = relativePath.split('/').slice(0, -1);
    let current = '';
    for (const part of parts) {
      current = current === '' ? part : `${current}/${part}`;
      if (this.directories.has(current)) continue;

      const stats = await lstat(this.absolute(current)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (stats === null && create) {
        await mkdir(this.absolute(current), { mode: 0o755 });
      } else if (stats === null) {
        throw new UnsafeEntryError(entry, `refers to ${JSON.stringify(current)}, which is not in the archive`);
      } else if (stats.isSymbolicLink()) {
        throw new UnsafeEntryError(entry, `passes through the symlink ${JSON.stringify(current)}`);
      } else if (!stats.isDirectory()) {
        throw new UnsafeEntryError(entry, `passes through ${JSON.stringify(current)}, which is not a directory`);
      }
      this.directories.add(current);
    }
  }

  markDirectory(relativePath: string): void {
    this.directories.add(relativePath);
  }

  /** Forgets a path and everything under it, after it was removed or replaced. */
  forget(relativePath: string): void {
    const prefix = `${relativePath}/`;
    for (const directory of this.directories) {
      if (directory === relativePath || directory.startsWith(prefix)) this.directories.delete(directory);
    }
  }
}
