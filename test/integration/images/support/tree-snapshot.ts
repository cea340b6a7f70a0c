import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';

export interface TreeEntry {
  path: string;
  type: string;
  /** Permission bits including setuid, setgid and sticky. */
  mode: string;
  uid: number;
  gid: number;
  /** Seconds; left out for directories and whiteouts, whose times tools set differently. */
  mtime?: number;
  content?: string;
  linkTarget?: string;
  device?: string;
  /** The first path of the same inode, for hard links. */
  sameInodeAs?: string;
  xattrs?: Record<string, string>;
}

/**
 * Lists every entry under `root` with the metadata a layer must preserve, in path
 * order, so two trees compare with one `toEqual`. Only `security.capability` and
 * `trusted.overlay.opaque` are compared among extended attributes.
 */
export async function snapshotTree(root: string): Promise<TreeEntry[]> {
  const entries: TreeEntry[] = [];
  const inodes = new Map<string, string>();
  const walk = async (relative: string) => {
    const names = (await readdir(path.join(root, relative))).sort();
    for (const name of names) {
      const entryPath = relative ? `${relative}/${name}` : name;
      entries.push(await describe(root, entryPath, inodes));
      if ((await lstat(path.join(root, entryPath))).isDirectory()) await walk(entryPath);
    }
  };
  await walk('');
  return entries;
}

async function describe(root: string, entryPath: string, inodes: Map<string, string>): Promise<TreeEntry> {
  const absolute = path.join(root, entryPath);
  const stats = await lstat(absolute);
  const entry: TreeEntry = { path: entryPath, type: typeOf(stats), mode: (stats.mode & 0o7777).toString(8), uid: stats.uid, gid: stats.gid };
  const isWhiteout = stats.isCharacterDevice() && stats.rdev === 0;
  if (!stats.isDirectory() && !isWhiteout) entry.mtime = Math.floor(stats.mtimeMs / 1000);

  if (stats.isFile()) {
    entry.content = createHash('sha256').update(await readFile(absolute)).digest('hex');
    const inode = `${stats.dev}:${stats.ino}`;
    if (stats.nlink > 1) {
      if (inodes.has(inode)) entry.sameInodeAs = inodes.get(inode);
      else inodes.set(inode, entryPath);
    }
  }
  if (stats.isSymbolicLink()) entry.linkTarget = await readlink(absolute);
  if (stats.isCharacterDevice() || stats.isBlockDevice()) entry.device = `${Math.floor(stats.rdev / 256)}:${stats.rdev % 256}`;
  if (isWhiteout) entry.mode = 'whiteout';

  const xattrs = readXattrs(absolute);
  if (Object.keys(xattrs).length > 0) entry.xattrs = xattrs;
  return entry;
}

function readXattrs(absolute: string): Record<string, string> {
  const output = execFileSync('getfattr', ['-h', '-d', '-m', '^(security\\.capability|trusted\\.overlay\\.opaque)$', '-e', 'base64', absolute], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const xattrs: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const equals = line.indexOf('=');
    if (line.startsWith('#') || equals === -1) continue;
    xattrs[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return xattrs;
}

function typeOf(stats: Awaited<ReturnType<typeof lstat>>): string {
  if (stats.isDirectory()) return 'directory';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char-device';
  if (stats.isBlockDevice()) return 'block-device';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isSocket()) return 'socket';
  return 'file';
}
