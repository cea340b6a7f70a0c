import { chmod, chown, mkdir, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../../../shared/process/run-command.ts';

/**
 * A tmpfs that holds the files of one step's secrets, and the step's runtime bundle when
 * the secrets go into its environment. Secret values then stay in memory: they are never
 * written to the worker's disk, where a crash would leave them behind.
 */
export class SecretFolder {
  private mounted = true;

  private constructor(readonly dir: string) {}

  /** Mounts a tmpfs of `sizeBytes` at `dir` (created, mode 0700). Call `remove` in a `finally`. */
  static async mount(dir: string, sizeBytes: number): Promise<SecretFolder> {
    await mkdir(dir, { mode: 0o700 });
    try {
      await runCommand('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700,nosuid,nodev,noexec`, 'tmpfs', dir]);
    } catch (error) {
      await rmdir(dir).catch(() => undefined);
      throw error;
    }
    return new SecretFolder(dir);
  }

  /** Writes a secret as a file with the mount's mode and owner, and returns its host path. */
  async writeSecret(name: string, value: Buffer, owner: { mode: number; uid: number; gid: number }): Promise<string> {
    const file = path.join(this.dir, 'files', name);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFile(file, value, { mode: 0o600 });
    await chown(file, owner.uid, owner.gid);
    await chmod(file, owner.mode);
    return file;
  }

  /** Unmounts the tmpfs, which drops every secret in it, and removes the mount point; safe to call twice. */
  async remove(): Promise<void> {
    if (!this.mounted) return;
    await runCommand('umount', [this.dir]);
    this.mounted = false;
    await rmdir(this.dir).catch(() => undefined);
  }
}
