import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, readdir, symlink, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SystemError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { detectCompression, drain, forEachEntry } from './archive-reader.ts';
import { unpackedTooLarge } from './context-errors.ts';
import { normalizeInside } from './context-paths.ts';
import { createIgnoreMatcher } from './dockerignore.ts';
import { ArchiveEntryChecker, DEFAULT_MAX_ENTRIES, type CheckedEntry } from './entry-checker.ts';
import { DEFAULT_MAX_UNPACKED_BYTES } from './inspect-context.ts';

const log = createLogger('build-context');

export interface ExtractOptions {
  /** The text of the ignore file that applies (from inspectContextArchive), or null for none. */
  dockerignore?: string | null;
  maxEntries?: number;
  maxUnpackedBytes?: number;
}

export interface ExtractResult {
  entryCount: number;
  /** Entries written to the target folder. */
  extractedCount: number;
  /** Entries left out because .dockerignore excludes them. */
  ignoredCount: number;
  /** Sum of the sizes of the regular files written, in bytes. */
  totalBytes: number;
}

interface DirectoryMetadata {
  mode: number;
  mtime: Date;
}

/**
 * Extracts a context archive into an empty folder, checking every entry as
 * inspectContextArchive does and leaving out what .dockerignore excludes (the Dockerfile
 * and the ignore file too, when excluded: per the reference they are still sent, but
 * COPY cannot read them). Modes are kept, including setuid bits; owners are not, so files
 * belong to the extracting user and the builder applies `--chown` itself. Symlinks are
 * created as links and never followed.
 */
export async function extractContext(filePath: string, targetDir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  await requireEmptyFolder(targetDir);
  const { compressed } = await detectCompression(filePath);
  const checker = new ArchiveEntryChecker(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  const matcher = createIgnoreMatcher(options.dockerignore);
  const maxUnpackedBytes = options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  const directories = new Map<string, DirectoryMetadata>();
  const ignoredFiles = new Set<string>();
  /** Hard links whose target .dockerignore excludes: they get the target's content in a second pass. */
  const pendingLinks = new Map<string, string[]>();
  const result: ExtractResult = { entryCount: 0, extractedCount: 0, ignoredCount: 0, totalBytes: 0 };
  let unpackedBytes = 0;

  await forEachEntry(filePath, compressed, async (header, content) => {
    const entry = checker.check(header);
    unpackedBytes += entry?.size ?? 0;
    if (unpackedBytes > maxUnpackedBytes) throw unpackedTooLarge(maxUnpackedBytes);
    if (entry === undefined) return drain(content);

    if (matcher.ignores(entry.path)) {
      result.ignoredCount += 1;
      if (entry.kind === 'file') ignoredFiles.add(entry.path);
      return drain(content);
    }
    if (entry.kind === 'hardlink' && ignoredFiles.has(entry.linkTarget!)) {
      pendingLinks.set(entry.linkTarget!, [...(pendingLinks.get(entry.linkTarget!) ?? []), entry.path]);
      return drain(content);
    }

    await writeEntry(targetDir, entry, content, directories);
    result.extractedCount += 1;
    result.totalBytes += entry.size;
  });

  if (pendingLinks.size > 0) result.totalBytes += await writeLinksToIgnoredFiles(filePath, compressed, targetDir, pendingLinks, result);
  await applyDirectoryMetadata(targetDir, directories);
  result.entryCount = checker.entryCount;
  log.debug({ ...result, target: targetDir }, 'context extracted');
  return result;
}

async function requireEmptyFolder(targetDir: string): Promise<void> {
  await mkdir(targetDir, { recursive: true });
  const existing = await readdir(targetDir);
  if (existing.length > 0) {
    throw new SystemError('CONTEXT_TARGET_NOT_EMPTY', `Cannot extract a build context into ${targetDir}: the folder is not empty. Extract into a new folder.`);
  }
}

async function writeEntry(targetDir: string, entry: CheckedEntry, content: Readable, directories: Map<string, DirectoryMetadata>): Promise<void> {
  const destination = path.join(targetDir, entry.path);
  if (entry.kind === 'directory') {
    await mkdir(destination, { recursive: true });
    directories.set(entry.path, { mode: entry.mode, mtime: entry.mtime });
    return drain(content);
  }

  await mkdir(path.dirname(destination), { recursive: true });
  await removeExisting(destination);
  if (entry.kind === 'file') return writeFile(destination, entry, content);

  await drain(content);
  if (entry.kind === 'symlink') {
    await symlink(entry.linkTarget!, destination);
    await lutimes(destination, entry.mtime, entry.mtime);
  } else {
    await link(path.join(targetDir, entry.linkTarget!), destination);
  }
}

/** Removes a file or link that an earlier entry of the same name left, so nothing is written through a link. */
async function removeExisting(destination: string): Promise<void> {
  const existing = await lstat(destination).catch(() => undefined);
  if (existing && !existing.isDirectory()) await unlink(destination);
}

async function writeFile(destination: string, entry: Pick<CheckedEntry, 'mode' | 'mtime'>, content: Readable): Promise<void> {
  // 'wx' fails rather than follow anything that appeared at the path; chmod after, as the umask trims the create mode.
  await pipeline(content, createWriteStream(destination, { flags: 'wx', mode: 0o600 }));
  await chmod(destination, entry.mode);
  await utimes(destination, entry.mtime, entry.mtime);
}

/** Second pass: writes the content of excluded files to the hard links that still need it. */
async function writeLinksToIgnoredFiles(
  filePath: string,
  compressed: boolean,
  targetDir: string,
  pendingLinks: Map<string, string[]>,
  result: ExtractResult,
): Promise<number> {
  let bytes = 0;
  await forEachEntry(filePath, compressed, async (header, content) => {
    const source = normalizeInside(header.name);
    const links = source === undefined || header.type !== 'file' ? undefined : pendingLinks.get(source);
    if (links === undefined) return drain(content);

    const [first, ...others] = links;
    const firstPath = path.join(targetDir, first!);
    await mkdir(path.dirname(firstPath), { recursive: true });
    await removeExisting(firstPath);
    await writeFile(firstPath, { mode: header.mode & 0o7777, mtime: header.mtime }, content);
    for (const other of others) {
      await mkdir(path.dirname(path.join(targetDir, other)), { recursive: true });
      await removeExisting(path.join(targetDir, other));
      await link(firstPath, path.join(targetDir, other));
    }
    result.extractedCount += links.length;
    bytes += header.size;
  });
  return bytes;
}

/** Sets directory modes and times last, deepest first, so a read-only folder does not block its own contents. */
async function applyDirectoryMetadata(targetDir: string, directories: Map<string, DirectoryMetadata>): Promise<void> {
  const deepestFirst = [...directories.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const directory of deepestFirst) {
    const metadata = directories.get(directory)!;
    const destination = path.join(targetDir, directory);
    await chmod(destination, metadata.mode);
    await utimes(destination, metadata.mtime, metadata.mtime);
  }
}
