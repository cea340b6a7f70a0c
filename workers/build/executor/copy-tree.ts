import type { Stats } from 'node:fs';
import { chmod, chown, constants, copyFile, lchown, link, lstat, lutimes, readdir, readlink, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import type { Ownership } from '../../../shared/container/user-resolution.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { deviceMajor, deviceMinor } from '../../../shared/layers/device-numbers.ts';
import { runCommand } from '../../../shared/process/run-command.ts';
import type { EntryFilter } from '../cache/source-checksum.ts';
import { applyFileModeChange, type FileModeChange } from '../frontend/index.ts';
import { CREATED_FOLDER_MODE, ensureContainerFolder } from './container-folders.ts';

export interface TreeWriterOptions {
  /** The owner of every written entry; absent keeps each source entry's owner. */
  owner?: Ownership;
  /** `--chmod` for every written file and folder; absent keeps the source's mode. */
  mode?: FileModeChange;
  /** Entries below a copied folder that are left out (`--exclude`), with everything under them. */
  include?: EntryFilter;
}

/** The owner that context files get without `--chown`: root, as the Dockerfile reference states. */
export const CONTEXT_OWNER: Ownership = { uid: 0, gid: 0 };

/**
 * Writes copies of host files into a container root without ever writing outside it.
 * Destination folders are resolved inside the root (`resolveInRoot`), so a link in the
 * image such as `/app -> /etc` leads to the root's /etc. The last component of a file,
 * link or device destination is never followed: an entry already there is replaced.
 * Hard links among the copied files stay hard links. Modes include setuid bits, and
 * modification times are kept. Nothing else may change the root meanwhile.
 */
export class TreeWriter {
  /** Destination host path of each copied file with several links, by source `dev:ino`. */
  private readonly hardLinks = new Map<string, string>();

  constructor(
    readonly root: string,
    private readonly options: TreeWriterOptions = {},
  ) {}

  /**
   * Copies a file, link, device or whole folder to the container path `destination`.
   * A folder's contents are merged into the destination folder, which is created when
   * missing and keeps its metadata when it exists.
   */
  async copy(sourcePath: string, stats: Stats, destination: string): Promise<void> {
    if (stats.isDirectory()) {
      const folder = await ensureContainerFolder(this.root, destination);
      await this.copyChildren(sourcePath, folder.hostPath, destination, '');
      if (folder.created) await this.applyCreatedFolderMetadata(folder.hostPath, stats);
      return;
    }

    const parent = await ensureContainerFolder(this.root, path.posix.dirname(destination));
    await this.writeEntry(sourcePath, stats, path.join(parent.hostPath, path.posix.basename(destination)));
  }

  /** Copies a folder's entries; `relativeFolder` is the folder's path below the copied folder, for the include filter. */
  private async copyChildren(sourceFolder: string, hostFolder: string, containerFolder: string, relativeFolder: string): Promise<void> {
    for (const name of (await readdir(sourceFolder)).sort()) {
      const relativePath = relativeFolder === '' ? name : `${relativeFolder}/${name}`;
      if (this.options.include && !this.options.include(relativePath)) continue;
      const sourcePath = path.join(sourceFolder, name);
      const stats = await lstat(sourcePath);
      const containerPath = path.posix.join(containerFolder, name);
      if (stats.isDirectory()) await this.copyFolder(sourcePath, stats, containerPath, relativePath);
      else await this.writeEntry(sourcePath, stats, path.join(hostFolder, name));
    }
  }

  /** Copies a folder below the copy's top: it takes the source folder's owner, mode and time. */
  private async copyFolder(sourcePath: string, stats: Stats, containerPath: string, relativePath: string): Promise<void> {
    const folder = await ensureContainerFolder(this.root, containerPath);
    await this.copyChildren(sourcePath, folder.hostPath, containerPath, relativePath);
    // Set last, because writing the children changes the folder's mtime.
    await this.applyMetadata(folder.hostPath, stats, 'directory');
  }

  /** Writes a non-folder entry at `target`, replacing what is there unless it is a folder. */
  private async writeEntry(sourcePath: string, stats: Stats, target: string): Promise<void> {
    if (stats.isSocket()) return; // tar layers cannot hold sockets, as GNU tar skips them
    const existing = await lstat(target).catch(missingAsNull);
    if (existing?.isDirectory()) {
      const destination = containerPathOf(this.root, target);
      throw new ValidationError(
        'COPY_DESTINATION_IS_FOLDER',
        `Cannot copy a file to ${destination} because a folder is there in the image: copy it to another path or remove the folder first.`,
        { details: { destination } },
      );
    }
    if (existing) await rm(target, { force: true });

    if (stats.isSymbolicLink()) {
      await symlink(await readlink(sourcePath), target);
      await this.applyMetadata(target, stats, 'symlink');
    } else if (stats.isFile()) {
      await this.writeFile(sourcePath, stats, target);
    } else {
      await runCommand('mknod', ['-m', '0600', target, ...deviceArguments(stats)]);
      await this.applyMetadata(target, stats, 'other');
    }
  }

  private async writeFile(sourcePath: string, stats: Stats, target: string): Promise<void> {
    const inode = `${stats.dev}:${stats.ino}`;
    const firstCopy = stats.nlink > 1 ? this.hardLinks.get(inode) : undefined;
    if (firstCopy !== undefined) {
      await link(firstCopy, target);
      return;
    }

    // TODO: copy extended attributes too; a COPY --from of a binary with file capabilities
    // (security.capability) loses them here, where BuildKit keeps them.
    await copyFile(sourcePath, target, constants.COPYFILE_EXCL);
    await this.applyMetadata(target, stats, 'file');
    if (stats.nlink > 1) this.hardLinks.set(inode, target);
  }

  /**
   * Gives a destination folder that the copy created the copy's owner (the source
   * folder's when it keeps owners) and mode 0755 unless `--chmod` sets one.
   */
  private async applyCreatedFolderMetadata(hostPath: string, source: Stats): Promise<void> {
    const owner = this.options.owner ?? { uid: source.uid, gid: source.gid };
    await chown(hostPath, owner.uid, owner.gid);
    await chmod(hostPath, this.options.mode ? applyFileModeChange(this.options.mode, CREATED_FOLDER_MODE, true) : CREATED_FOLDER_MODE);
  }

  /** Sets owner, then mode (a chown clears setuid bits), then the modification time. */
  private async applyMetadata(target: string, stats: Stats, kind: 'file' | 'directory' | 'symlink' | 'other'): Promise<void> {
    const owner = this.options.owner ?? { uid: stats.uid, gid: stats.gid };
    if (kind === 'symlink') {
      await lchown(target, owner.uid, owner.gid);
      await lutimes(target, stats.mtime, stats.mtime);
      return;
    }
    await chown(target, owner.uid, owner.gid);
    const mode = stats.mode & 0o7777;
    await chmod(target, this.options.mode ? applyFileModeChange(this.options.mode, mode, kind === 'directory') : mode);
    await lutimes(target, stats.mtime, stats.mtime);
  }
}

function missingAsNull(error: NodeJS.ErrnoException): null {
  if (error.code === 'ENOENT') return null;
  throw error;
}

function containerPathOf(root: string, hostPath: string): string {
  return `/${path.relative(root, hostPath)}`;
}

function deviceArguments(stats: Stats): string[] {
  if (stats.isFIFO()) return ['p'];
  const kind = stats.isCharacterDevice() ? 'c' : 'b';
  return [kind, String(deviceMajor(stats.rdev)), String(deviceMinor(stats.rdev))];
}
