import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream, { type Header } from 'tar-stream';
import { ValidationError } from '../errors.ts';
import { DigestingStream, type Digest } from '../oci/digest.ts';
import { openUncompressed } from './layer-compression.ts';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './layer-writer.ts';
import { runCommand } from '../process/run-command.ts';
import { cleanEntryPath, SafeTree, UnsafeEntryError } from './safe-tree.ts';
import { captureRawPax, rawXattrsOf } from './tar-pax.ts';
import { CAPABILITY_XATTR, OVERLAY_OPAQUE_XATTR } from './tree-xattrs.ts';

export interface UnpackLayerOptions {
  /** The layer's diff_id from the image config; a different uncompressed digest fails the unpack. */
  expectedDiffId?: Digest;
}

export interface UnpackedLayer {
  /** sha256 of the uncompressed tar stream. */
  diffId: Digest;
  entries: number;
}

export class DiffIdMismatchError extends ValidationError {
  constructor(expected: Digest, actual: Digest) {
    super('LAYER_DIFF_ID_MISMATCH', `Layer content hashes to ${actual}, not the diff_id ${expected} that the image config lists; the layer was rejected.`, {
      details: { expected, actual },
    });
  }
}

/**
 * Extracts a gzip-compressed or plain tar layer into `targetDir` in overlayfs form:
 * `.wh.<name>` becomes a 0/0 character device `<name>` and `.wh..wh..opq` sets
 * `trusted.overlay.opaque=y` on its directory. Ownership is numeric, and modes are set
 * after chown so setuid bits survive. Entry names are cleaned as docker does, and an
 * entry that climbs out, passes through a symlink or hard-links outside the layer
 * rejects the whole layer. On any failure `targetDir` is removed. `targetDir` must be
 * absent or empty, and nothing else may write to it meanwhile.
 */
export async function unpackLayer(blob: Readable, targetDir: string, options: UnpackLayerOptions = {}): Promise<UnpackedLayer> {
  const root = path.resolve(targetDir);
  await prepareTarget(root);

  try {
    const tar = await openUncompressed(blob, `Layer for ${root}`);
    const digesting = new DigestingStream();
    const extract = tarStream.extract();
    captureRawPax(extract);

    const feeding = pipeline(tar, digesting);
    feeding.catch((error: Error) => extract.destroy(error));
    digesting.pipe(extract as unknown as NodeJS.WritableStream);

    const writer = new EntryWriter(new SafeTree(root));
    for await (const entry of extract) {
      await writer.write(entry.header, entry as unknown as EntryBody);
    }
    await feeding;
    await writer.finish();

    const diffId = digesting.digest();
    if (options.expectedDiffId && options.expectedDiffId !== diffId) throw new DiffIdMismatchError(options.expectedDiffId, diffId);
    return { diffId, entries: writer.entries };
  } catch (error) {
    blob.destroy();
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function prepareTarget(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  const existing = await readdir(root);
  if (existing.length > 0) {
    throw new ValidationError('LAYER_TARGET_NOT_EMPTY', `Cannot unpack a layer into ${root} because it is not empty: pass a new or empty folder.`);
  }
}

/** The body of one tar entry as tar-stream's extract yields it (a streamx Readable). */
interface EntryBody extends AsyncIterable<Buffer> {
  resume(): unknown;
}

/** Writes tar entries one at a time into a SafeTree. */
class EntryWriter {
  entries = 0;
  private readonly directoryTimes = new Map<string, Date>();

  constructor(private readonly tree: SafeTree) {}

  async write(header: Header, content: EntryBody): Promise<void> {
    try {
      await this.writeEntry(header, content);
    } finally {
      content.resume();
    }
    this.entries += 1;
  }

  /** Sets directory mtimes last, because creating entries inside a directory changes its mtime. */
  async finish(): Promise<void> {
    for (const [relativePath, mtime] of this.directoryTimes) {
      await lutimes(this.tree.absolute(relativePath), mtime, mtime);
    }
  }

  private async writeEntry(header: Header, content: EntryBody): Promise<void> {
    const relativePath = cleanEntryPath(header.name);
    const baseName = path.posix.basename(relativePath);

    if (relativePath === '') {
      if (header.type !== 'directory') throw new UnsafeEntryError(header.name, 'replaces the root directory with a non-directory');
      await this.applyMetadata('', header);
      this.directoryTimes.set('', header.mtime);
      return;
    }
    if (baseName.startsWith(WHITEOUT_PREFIX)) {
      await this.writeWhiteout(relativePath, baseName, header.name);
      return;
    }

    await this.tree.ensureParents(relativePath, header.name);
    await this.removeExisting(relativePath, header.type === 'directory');
    await this.create(relativePath, header, content);
  }

  private async writeWhiteout(relativePath: string, baseName: string, entry: string): Promise<void> {
    const directory = path.posix.dirname(relativePath) === '.' ? '' : path.posix.dirname(relativePath);
    if (baseName === OPAQUE_WHITEOUT) {
      await this.tree.ensureParents(relativePath, entry);
      await runCommand('setfattr', ['-h', '-n', OVERLAY_OPAQUE_XATTR, '-v', 'y', this.tree.absolute(directory)]);
      return;
    }
    // Other `.wh..wh.` names are aufs bookkeeping (such as `.wh..wh.plnk`) and carry no change.
    if (baseName.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;

    const hidden = path.posix.join(directory, baseName.slice(WHITEOUT_PREFIX.length));
    await this.tree.ensureParents(hidden, entry);
    await this.removeExisting(hidden, false);
    await runCommand('mknod', ['-m', '0', this.tree.absolute(hidden), 'c', '0', '0']);
  }

  /** Removes what an earlier entry put at this path, unless both are directories. */
  private async removeExisting(relativePath: string, keepDirectory: boolean): Promise<void> {
    const existing = await lstat(this.tree.absolute(relativePath)).catch(() => null);
    if (existing === null) return;
    if (keepDirectory && existing.isDirectory()) return;

    await rm(this.tree.absolute(relativePath), { recursive: true, force: true });
    this.tree.forget(relativePath);
    this.directoryTimes.delete(relativePath);
  }

  private async create(relativePath: string, header: Header, content: EntryBody): Promise<void> {
    const target = this.tree.absolute(relativePath);
    switch (header.type) {
      case 'directory':
        await mkdir(target, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
        this.tree.markDirectory(relativePath);
        this.directoryTimes.set(relativePath, header.mtime);
        await this.applyMetadata(relativePath, header);
        return;
      case 'file':
      case 'contiguous-file':
        await this.createFile(target, header, content);
        await this.applyXattrs(target, header);
        return;
      case 'symlink':
        await symlink(header.linkname ?? '', target);
        await lchown(target, ownerOf(header, 'uid'), ownerOf(header, 'gid'));
        await lutimes(target, header.mtime, header.mtime);
        return;
      case 'link':
        await this.createHardLink(target, header);
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await runCommand('mknod', ['-m', '0600', target, ...deviceArguments(header)]);
        await this.applyMetadata(relativePath, header);
        return;
      default:
        // Types such as GNU sparse or volume headers do not occur in OCI layers.
        throw new UnsafeEntryError(header.name, `has the unsupported tar entry type ${JSON.stringify(header.type)}`);
    }
  }

  private async createFile(target: string, header: Header, content: EntryBody): Promise<void> {
    const handle = await open(target, 'wx', 0o600);
    try {
      for await (const chunk of content) await writeAll(handle, chunk);
      await handle.chown(ownerOf(header, 'uid'), ownerOf(header, 'gid'));
      await handle.chmod(header.mode & 0o7777);
      await handle.utimes(header.mtime, header.mtime);
    } finally {
      await handle.close();
    }
  }

  private async createHardLink(target: string, header: Header): Promise<void> {
    const linkName = header.linkname ?? '';
    const source = cleanEntryPath(linkName);
    if (source === '') throw new UnsafeEntryError(header.name, 'is a hard link to the root directory');

    await this.tree.ensureParents(source, header.name, false);
    const stats = await lstat(this.tree.absolute(source)).catch(() => null);
    if (stats === null) throw new UnsafeEntryError(header.name, `is a hard link to ${JSON.stringify(linkName)}, which is not in this layer`);
    if (stats.isDirectory()) throw new UnsafeEntryError(header.name, `is a hard link to the directory ${JSON.stringify(linkName)}`);
    // link(2) does not follow a symlink as its source, so the link stays inside the layer.
    await link(this.tree.absolute(source), target);
  }

  private async applyMetadata(relativePath: string, header: Header): Promise<void> {
    const target = this.tree.absolute(relativePath);
    await lchown(target, ownerOf(header, 'uid'), ownerOf(header, 'gid'));
    await chmod(target, header.mode & 0o7777);
    if (header.type !== 'directory') await lutimes(target, header.mtime, header.mtime);
    await this.applyXattrs(target, header);
  }

  /** Restores `security.capability` only; other attributes from a tar are ignored, `trusted.*` on purpose. */
  private async applyXattrs(target: string, header: Header): Promise<void> {
    const capability = rawXattrsOf(header).get(CAPABILITY_XATTR);
    if (!capability) return;
    await runCommand('setfattr', ['-h', '-n', CAPABILITY_XATTR, '-v', `0s${capability.toString('base64')}`, target]);
  }
}

/** Returns the owner from the PAX record when present, because ustar headers hold at most 7 octal digits. */
function ownerOf(header: Header, field: 'uid' | 'gid'): number {
  const pax = header.pax as Record<string, string> | null | undefined;
  const fromPax = pax?.[field] === undefined ? Number.NaN : Number(pax[field]);
  return Number.isSafeInteger(fromPax) && fromPax >= 0 ? fromPax : header[field];
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

function deviceArguments(header: Header): string[] {
  if (header.type === 'fifo') return ['p'];
  const kind = header.type === 'character-device' ? 'c' : 'b';
  return [kind, String(header.devmajor ?? 0), String(header.devminor ?? 0)];
}
