import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The disk limit of one build: the bytes of the files its steps write (the upper folders
 * that become layers, and downloads of ADD), counted as apparent sizes because that is
 * what a layer tar stores. Steps of parallel stages draw on the same budget.
 */
export class DiskBudget {
  private committed = 0;

  constructor(readonly limitBytes: number) {}

  /** Bytes a step may still write before the build is over its limit. */
  remaining(): number {
    return Math.max(0, this.limitBytes - this.committed);
  }

  /** Whether a step that has written `stepBytes` so far puts the build over its limit. */
  exceededBy(stepBytes: number): boolean {
    return this.committed + stepBytes > this.limitBytes;
  }

  /**
   * Whether a failed step used the whole budget: its last write then failed with EFBIG
   * at RLIMIT_FSIZE, which the worker process passes on ignoring SIGXFSZ (Node.js ignores
   * it), so the command usually exits with an error instead of being killed.
   */
  usedUpBy(stepBytes: number): boolean {
    return this.committed + stepBytes >= this.limitBytes;
  }

  /** Adds the bytes of a finished step. */
  commit(stepBytes: number): void {
    this.committed += stepBytes;
  }
}

/**
 * Returns the apparent size of everything under `folder` in bytes, as `du -s -b` counts
 * it, without following links or crossing into other mounts. Walked here rather than
 * with du, because starting a process from a worker with a large heap costs more than
 * the walk of a typical step's changes.
 */
export async function measureFolderBytes(folder: string): Promise<number> {
  const top = await lstat(folder);
  let total = top.size;
  for (const name of await readdir(folder)) {
    const child = path.join(folder, name);
    const stats = await lstat(child);
    if (stats.isDirectory() && stats.dev === top.dev) total += await measureFolderBytes(child);
    else if (!stats.isDirectory()) total += stats.size;
  }
  return total;
}
