import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

/** A file or folder that a COPY or ADD source matched. */
export interface SourceMatch {
  /** The match's path relative to the source root, as the source pattern expanded it. */
  path: string;
  /** The host path after following symbolic links inside the root; never a link itself. */
  hostPath: string;
  stats: Stats;
}

/** File content digests by inode, size and mtime, shared by the COPY steps of one build. */
export type ContentDigestMemo = Map<string, string>;

/** Decides whether an entry below a matched folder is copied; `relativePath` is relative to the match. */
export type EntryFilter = (relativePath: string) => boolean;

/**
 * Computes a checksum over everything the matches contain: each entry's path, type, mode,
 * owner, and its content digest, link target or device number. Modification times are
 * left out, so touching a file or checking it out again does not miss the cache. Entries
 * that `include` rejects (COPY --exclude) are left out with everything below them.
 */
export async function checksumSources(matches: readonly SourceMatch[], memo: ContentDigestMemo = new Map(), include?: EntryFilter): Promise<string> {
  const hash = createHash('sha256');
  for (const [index, match] of matches.entries()) {
    hash.update(`match ${index} ${JSON.stringify(match.path)}\n`);
    await addEntry(hash, match.hostPath, '.', match.stats, memo, include);
  }
  return `sha256:${hash.digest('hex')}`;
}

async function addEntry(hash: Hash, hostPath: string, relativePath: string, stats: Stats, memo: ContentDigestMemo, include?: EntryFilter): Promise<void> {
  if (relativePath !== '.' && include && !include(relativePath)) return;
  const fields = [JSON.stringify(relativePath), entryType(stats), (stats.mode & 0o7777).toString(8), stats.uid, stats.gid];
  if (stats.isFile()) fields.push(stats.size, await contentDigest(hostPath, stats, memo));
  else if (stats.isSymbolicLink()) fields.push(JSON.stringify(await readlink(hostPath)));
  else if (stats.isCharacterDevice() || stats.isBlockDevice()) fields.push(stats.rdev);
  hash.update(`${fields.join(' ')}\n`);

  if (!stats.isDirectory()) return;
  for (const name of (await readdir(hostPath)).sort()) {
    const childPath = path.join(hostPath, name);
    await addEntry(hash, childPath, path.posix.join(relativePath, name), await lstat(childPath), memo, include);
  }
}

async function contentDigest(hostPath: string, stats: Stats, memo: ContentDigestMemo): Promise<string> {
  const memoKey = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
  const known = memo.get(memoKey);
  if (known) return known;

  const hash = createHash('sha256');
  for await (const chunk of createReadStream(hostPath)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex');
  memo.set(memoKey, digest);
  return digest;
}

function entryType(stats: Stats): string {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'dir';
  if (stats.isSymbolicLink()) return 'symlink';
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  if (stats.isFIFO()) return 'fifo';
  return 'socket';
}
