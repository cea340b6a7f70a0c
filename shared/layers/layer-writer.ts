import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tarStream, { type Header, type Pack } from 'tar-stream';
import { ValidationError } from '../errors.ts';
import { DigestingStream, type Digest } from '../oci/digest.ts';
import { deviceMajor, deviceMinor } from './device-numbers.ts';
import { enableRawPax, USTAR_MAX_ID, withPaxRecords, XATTR_PAX_PREFIX } from './tar-pax.ts';
import { CAPABILITY_XATTR, OVERLAY_METACOPY_XATTR, OVERLAY_OPAQUE_XATTR, OVERLAY_REDIRECT_XATTR, readTreeXattrs, type TreeXattrs } from './tree-xattrs.ts';

/** OCI image spec, "Representing Changes": whiteout file prefix and opaque marker name. */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** gzip level of every layer Slipway writes; fixed so the same tree gives the same digest. */
export const LAYER_GZIP_LEVEL = 6;

export interface WriteLayerOptions {
  /** Seconds since the Unix epoch; later mtimes are clamped to it (reproducible-builds.org SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /**
   * Converts overlayfs whiteouts (0/0 character devices) to `.wh.<name>` files and
   * opaque directories to `.wh..wh..opq` entries. Default true; a plain root
   * filesystem has neither, so it is unaffected.
   */
  overlay?: boolean;
}

export interface WrittenLayer {
  /** Digest of the compressed file, as the manifest's layer descriptor records it. */
  digest: Digest;
  /** sha256 of the uncompressed tar, as the image config's rootfs.diff_ids records it. */
  diffId: Digest;
  /** Size of the compressed file in bytes. */
  size: number;
}

interface WalkContext {
  root: string;
  pack: Pack;
  xattrs: TreeXattrs;
  overlay: boolean;
  sourceDateEpoch?: number;
  /** First tar path of each regular-file inode with several links, by `dev:ino`. */
  hardLinks: Map<string, string>;
}

/**
 * Writes the tree under `sourceDir` as a gzip-compressed tar layer to `outFile`. Entries
 * come in path order with numeric owners only and no atime or ctime, so the same tree
 * gives the same digest. File contents are streamed, never held in memory. Sockets are
 * skipped because tar cannot store them. Of the extended attributes only
 * `security.capability` is kept (as a PAX `SCHILY.xattr.` record); `user.*`,
 * `security.selinux` and the other `trusted.overlay.*` attributes are left out.
 */
export async function writeLayer(sourceDir: string, outFile: string, options: WriteLayerOptions = {}): Promise<WrittenLayer> {
  const root = path.resolve(sourceDir);
  const rootStats = await lstat(root).catch(() => null);
  if (!rootStats?.isDirectory()) {
    throw new ValidationError('LAYER_SOURCE_INVALID', `Layer source ${root} is not a directory: pass the folder to turn into a layer.`);
  }

  const xattrs = await readTreeXattrs(root, [CAPABILITY_XATTR, OVERLAY_OPAQUE_XATTR, OVERLAY_REDIRECT_XATTR, OVERLAY_METACOPY_XATTR]);
  assertNoOverlayMetadata(root, xattrs);
  const pack = tarStream.pack();
  enableRawPax(pack);
  const uncompressed = new DigestingStream();
  const compressed = new DigestingStream();
  const written = pipeline(
    async function* () {
      for await (const chunk of pack) yield chunk as Buffer;
    },
    uncompressed,
    createGzip({ level: LAYER_GZIP_LEVEL }),
    compressed,
    createWriteStream(outFile),
  );

  const context: WalkContext = {
    root,
    pack,
    xattrs,
    overlay: options.overlay ?? true,
    sourceDateEpoch: options.sourceDateEpoch,
    hardLinks: new Map(),
  };
  try {
    await addDirectoryChildren(context, '');
    pack.finalize();
    await written;
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => {});
    await rm(outFile, { force: true });
    throw error;
  }
  return { digest: compressed.digest(), diffId: uncompressed.digest(), size: compressed.size };
}

interface ChildEntry {
  /** The name written to the tar, which differs from the file name for whiteouts. */
  tarName: string;
  fileName?: string;
}

async function addDirectoryChildren(context: WalkContext, relativeDir: string): Promise<void> {
  const children: ChildEntry[] = [];
  for (const raw of await readdir(path.join(context.root, relativeDir), { encoding: 'buffer' })) {
    const fileName = raw.toString('utf8');
    if (!Buffer.from(fileName, 'utf8').equals(raw)) {
      throw new ValidationError(
        'LAYER_NAME_NOT_UTF8',
        `A file name in ${path.join(context.root, relativeDir)} is not valid UTF-8 (${JSON.stringify(fileName)}): rename it, because layer entry names are written as UTF-8.`,
      );
    }
    children.push({ tarName: fileName, fileName });
  }
  if (context.overlay && relativeDir !== '' && isOpaque(context, relativeDir)) children.push({ tarName: OPAQUE_WHITEOUT });

  const stats = new Map<ChildEntry, Stats>();
  for (const child of children) {
    if (child.fileName === undefined) continue;
    const childStats = await lstat(path.join(context.root, relativeDir, child.fileName));
    stats.set(child, childStats);
    if (context.overlay && isWhiteoutDevice(childStats)) child.tarName = WHITEOUT_PREFIX + child.fileName;
  }
  children.sort((a, b) => Buffer.compare(Buffer.from(a.tarName), Buffer.from(b.tarName)));

  for (const child of children) {
    const relativePath = relativeDir === '' ? child.tarName : `${relativeDir}/${child.tarName}`;
    const childStats = stats.get(child);
    if (!childStats) {
      await addEntry(context.pack, markerHeader(context, relativePath));
      continue;
    }
    await addPath(context, relativePath, childStats, child.fileName !== child.tarName);
  }
}

async function addPath(context: WalkContext, relativePath: string, stats: Stats, isWhiteout: boolean): Promise<void> {
  const base = { uid: stats.uid, gid: stats.gid, mode: stats.mode, mtime: epochDate(context, stats) };
  if (isWhiteout) {
    await addEntry(context.pack, markerHeader(context, relativePath));
    return;
  }

  const sourcePath = path.join(context.root, relativePath);
  if (stats.isDirectory()) {
    await addEntry(context.pack, withMetadata(context, relativePath, { ...base, name: `${relativePath}/`, type: 'directory' }));
    await addDirectoryChildren(context, relativePath);
    return;
  }
  if (stats.isSymbolicLink()) {
    await addEntry(context.pack, withMetadata(context, relativePath, { ...base, name: relativePath, type: 'symlink', linkname: await readlink(sourcePath) }));
    return;
  }
  if (stats.isCharacterDevice() || stats.isBlockDevice()) {
    const type = stats.isCharacterDevice() ? 'character-device' : 'block-device';
    const header = { ...base, name: relativePath, type, devmajor: deviceMajor(stats.rdev), devminor: deviceMinor(stats.rdev) } as const;
    await addEntry(context.pack, withMetadata(context, relativePath, header));
    return;
  }
  if (stats.isFIFO()) {
    await addEntry(context.pack, withMetadata(context, relativePath, { ...base, name: relativePath, type: 'fifo' }));
    return;
  }
  if (stats.isFile()) {
    await addFile(context, relativePath, sourcePath, stats, base);
  }
  // Sockets fall through: tar has no entry type for them, and GNU tar skips them too.
}

async function addFile(context: WalkContext, relativePath: string, sourcePath: string, stats: Stats, base: Partial<Header>): Promise<void> {
  const inode = `${stats.dev}:${stats.ino}`;
  const firstPath = stats.nlink > 1 ? context.hardLinks.get(inode) : undefined;
  if (firstPath !== undefined) {
    await addEntry(context.pack, withMetadata(context, relativePath, { ...base, name: relativePath, type: 'link', linkname: firstPath }));
    return;
  }
  if (stats.nlink > 1) context.hardLinks.set(inode, relativePath);

  const header = withMetadata(context, relativePath, { ...base, name: relativePath, type: 'file', size: stats.size });
  if (stats.size === 0) {
    await addEntry(context.pack, header, Buffer.alloc(0));
    return;
  }
  // `end` caps the read at the size in the header, because a file that grows while it is
  // read would otherwise corrupt the tar. A file that shrinks fails with "Size mismatch".
  await addEntry(context.pack, header, createReadStream(sourcePath, { start: 0, end: stats.size - 1 }));
}

function addEntry(pack: Pack, header: Partial<Header> & { name: string }, content?: Buffer | NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error | null) => (error ? reject(error) : resolve());
    if (content === undefined && header.type !== 'file') {
      pack.entry(header, done);
      return;
    }
    if (content === undefined || Buffer.isBuffer(content)) {
      // A file entry without a body still waits for its end, so an empty one gets an empty buffer.
      pack.entry(header, content ?? Buffer.alloc(0), done);
      return;
    }

    const sink = pack.entry(header, done);
    content.on('error', (error: Error) => sink.destroy(error));
    content.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

/** Adds the PAX records an entry needs beyond ustar: its capabilities and large owner ids. */
function withMetadata<T extends Partial<Header>>(context: WalkContext, relativePath: string, header: T): T {
  const records = new Map<string, Buffer>();
  const capability = context.xattrs.get(relativePath)?.get(CAPABILITY_XATTR);
  if (capability) records.set(XATTR_PAX_PREFIX + CAPABILITY_XATTR, capability);
  if ((header.uid ?? 0) > USTAR_MAX_ID) records.set('uid', Buffer.from(String(header.uid)));
  if ((header.gid ?? 0) > USTAR_MAX_ID) records.set('gid', Buffer.from(String(header.gid)));
  return withPaxRecords(header, records);
}

/**
 * Fails for an upper directory that overlayfs wrote with `redirect_dir=on` or
 * `metacopy=on`: a redirect records a rename and a metacopy file has no data of its
 * own, and a tar layer can express neither. Mount build steps without those options.
 */
function assertNoOverlayMetadata(root: string, xattrs: TreeXattrs): void {
  for (const [relativePath, attributes] of xattrs) {
    const name = [OVERLAY_REDIRECT_XATTR, OVERLAY_METACOPY_XATTR].find((attribute) => attributes.has(attribute));
    if (!name) continue;
    throw new ValidationError(
      'LAYER_OVERLAY_UNSUPPORTED',
      `${path.join(root, relativePath)} has the overlayfs attribute ${name}, which a tar layer cannot express: mount the build overlay with redirect_dir=off and metacopy=off.`,
    );
  }
}

/**
 * Builds the header of a whiteout or opaque marker. Its owner, mode and time carry no
 * meaning, so they are fixed (root, 0000, the source date or 0). A tree unpacked from a
 * layer then gives the same layer again.
 */
function markerHeader(context: WalkContext, relativePath: string): Partial<Header> & { name: string } {
  return { name: relativePath, type: 'file', mode: 0o100000, uid: 0, gid: 0, mtime: epochDate(context, null) };
}

function isOpaque(context: WalkContext, relativeDir: string): boolean {
  return context.xattrs.get(relativeDir)?.get(OVERLAY_OPAQUE_XATTR)?.toString('utf8') === 'y';
}

/** overlayfs marks a deleted lower file with a character device numbered 0/0. */
function isWhiteoutDevice(stats: Stats): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

function epochDate(context: WalkContext, stats: Stats | null): Date {
  const seconds = stats ? Math.floor(stats.mtimeMs / 1000) : (context.sourceDateEpoch ?? 0);
  const clamped = context.sourceDateEpoch === undefined ? seconds : Math.min(seconds, context.sourceDateEpoch);
  return new Date(clamped * 1000);
}
