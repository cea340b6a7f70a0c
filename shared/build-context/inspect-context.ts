import { createLogger } from '../logger.ts';
import { detectCompression, drain, forEachEntry, readEntryText } from './archive-reader.ts';
import { ContextError, unpackedTooLarge } from './context-errors.ts';
import { normalizeInside, validateDockerfilePath } from './context-paths.ts';
import { dockerignoreCandidates } from './dockerignore.ts';
import { ArchiveEntryChecker, DEFAULT_MAX_ENTRIES } from './entry-checker.ts';

const log = createLogger('build-context');

/** Largest Dockerfile or .dockerignore read into memory, in bytes. */
export const MAX_BUILD_FILE_BYTES = 1024 * 1024;

/**
 * Default cap on the unpacked size of a context, in bytes. It stops a small gzip body
 * that unpacks to a huge tree (a decompression bomb); callers should pass their own.
 */
export const DEFAULT_MAX_UNPACKED_BYTES = 8 * 1024 ** 3;

export interface InspectOptions {
  /** The Dockerfile's path in the context (`?dockerfile=PATH`); `Dockerfile` by default. */
  dockerfilePath?: string;
  maxEntries?: number;
  /** Cap on the sum of file sizes in the archive, in bytes. */
  maxUnpackedBytes?: number;
}

export interface ContextInspection {
  /** Whether the archive was gzip-compressed. */
  compressed: boolean;
  entryCount: number;
  /** Sum of the sizes of the regular files, in bytes. */
  totalBytes: number;
  /** The normalized Dockerfile path. */
  dockerfilePath: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  /** The ignore file that applies (`<dockerfile>.dockerignore` if present, else `.dockerignore`), or null. */
  dockerignore: string | null;
}

/**
 * Reads an uploaded context archive from a file without unpacking it: checks every entry
 * with the rules of ArchiveEntryChecker, and returns the Dockerfile's text and the
 * .dockerignore that applies. The archive is streamed; only those two files are held in
 * memory, each up to 1 MiB. A Dockerfile that is a symlink is followed inside the context,
 * which takes a second pass over the archive when the target came first.
 */
export async function inspectContextArchive(filePath: string, options: InspectOptions = {}): Promise<ContextInspection> {
  const dockerfilePath = validateDockerfilePath(options.dockerfilePath);
  const { compressed } = await detectCompression(filePath);
  const checker = new ArchiveEntryChecker(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
  const maxUnpackedBytes = options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  const [specificIgnore, rootIgnore] = dockerignoreCandidates(dockerfilePath);
  const wanted = new Set([dockerfilePath, specificIgnore, rootIgnore]);
  const captured = new Map<string, string>();
  let totalBytes = 0;

  await forEachEntry(filePath, compressed, async (header, content) => {
    const entry = checker.check(header);
    totalBytes += entry?.size ?? 0;
    if (totalBytes > maxUnpackedBytes) throw unpackedTooLarge(maxUnpackedBytes);
    if (entry?.kind === 'file' && wanted.has(entry.path)) captured.set(entry.path, await readBuildFile(entry.path, dockerfilePath, header, content));
    else await drain(content);
  });

  const dockerfileSource = resolveBuildFile(checker, dockerfilePath, true)!;
  const ignoreSource = resolveBuildFile(checker, specificIgnore, false) ?? resolveBuildFile(checker, rootIgnore, false);
  await captureMissing(filePath, compressed, [dockerfileSource, ignoreSource], captured, dockerfilePath);

  log.debug({ entries: checker.entryCount, bytes: totalBytes, compressed, dockerfile: dockerfilePath }, 'context inspected');
  return {
    compressed,
    entryCount: checker.entryCount,
    totalBytes,
    dockerfilePath,
    dockerfile: captured.get(dockerfileSource)!,
    dockerignore: ignoreSource === undefined ? null : captured.get(ignoreSource)!,
  };
}

function readBuildFile(path: string, dockerfilePath: string, header: Parameters<typeof readEntryText>[0], content: Parameters<typeof readEntryText>[1]): Promise<string> {
  const isDockerfile = path === dockerfilePath;
  return readEntryText(header, content, MAX_BUILD_FILE_BYTES, () =>
    new ContextError(
      isDockerfile ? 'DOCKERFILE_TOO_LARGE' : 'DOCKERIGNORE_TOO_LARGE',
      `${path} is ${header.size} bytes, over the limit of ${MAX_BUILD_FILE_BYTES} bytes for ${isDockerfile ? 'a Dockerfile' : 'an ignore file'}: check that the path names the right file.`,
      { entry: path, size: header.size, maxBytes: MAX_BUILD_FILE_BYTES },
    ),
  );
}

/**
 * Finds the regular file a build file's path leads to, following the archive's symlinks.
 * A missing Dockerfile is an error; a missing ignore file is undefined.
 */
function resolveBuildFile(checker: ArchiveEntryChecker, path: string, required: boolean): string | undefined {
  const resolved = checker.resolve(path);
  const kind = resolved === undefined ? undefined : checker.kindOf(resolved);
  if (resolved !== undefined && kind === 'file') return resolved;
  if (!required) return undefined;

  const found = checker.kindOf(path);
  const reason =
    found === undefined ? 'there is no such file in the archive'
    : found === 'directory' || found === 'implicit-directory' ? 'it is a directory'
    : kind === 'directory' || kind === 'implicit-directory' ? 'it is a symlink to a directory'
    : 'it is a symlink that leads outside the context or to a missing file';
  throw new ContextError(
    'DOCKERFILE_NOT_FOUND',
    `The build context has no Dockerfile at ${JSON.stringify(path)}: ${reason}. Put the Dockerfile at the root of the folder you deploy, ` +
      'or give its path relative to that folder with ?dockerfile=PATH (slipway deploy --dockerfile PATH), and check that .dockerignore does not keep it out of the archive you pack.',
    { dockerfile: path },
  );
}

/** Reads build files the first pass could not capture because a symlink to them came after them. */
async function captureMissing(
  filePath: string,
  compressed: boolean,
  paths: (string | undefined)[],
  captured: Map<string, string>,
  dockerfilePath: string,
): Promise<void> {
  const missing = new Set(paths.filter((path): path is string => path !== undefined && !captured.has(path)));
  if (missing.size === 0) return;

  await forEachEntry(filePath, compressed, async (header, content) => {
    const path = normalizeInside(header.name);
    if ((header.type === 'file' || header.type === 'contiguous-file') && path !== undefined && missing.has(path)) {
      captured.set(path, await readBuildFile(path, dockerfilePath, header, content));
    } else await drain(content);
  });
}

