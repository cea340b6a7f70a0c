import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { openUncompressed } from '../layers/layer-compression.ts';
import { cleanEntryPath, SafeTree, UnsafeEntryError } from '../layers/safe-tree.ts';

/** Links followed at most while resolving one archive path, as Linux's MAXSYMLINKS (40) caps loops. */
const MAX_LINK_HOPS = 40;

/**
 * An image archive extracted into a folder. Only regular files and directories are
 * written to disk. Symlinks and hard links are kept as records, and `resolve` follows
 * them inside the archive, so nothing in the archive can point a read or write outside it.
 */
export class ArchiveFolder {
  private readonly symlinks = new Map<string, string>();
  private readonly hardLinks = new Map<string, string>();
  private readonly tree: SafeTree;

  private constructor(readonly root: string) {
    this.tree = new SafeTree(root);
  }

  /**
   * Extracts a tar (or gzip-compressed tar) stream into `root`, which must be a new,
   * empty folder. Fails with LAYER_ENTRY_UNSAFE for names that climb out, and with the
   * tar parser's error for input that is not a tar.
   */
  static async extract(source: Readable, root: string): Promise<ArchiveFolder> {
    const folder = new ArchiveFolder(root);
    const tar = await openUncompressed(source, 'The image archive');
    const extract = tarStream.extract();
    tar.on('error', (error) => extract.destroy(error));
    tar.pipe(extract as unknown as NodeJS.WritableStream);

    for await (const entry of extract) {
      try {
        await folder.addEntry(entry.header, entry as unknown as AsyncIterable<Buffer>);
      } finally {
        entry.resume();
      }
    }
    return folder;
  }

  /** Returns the file on disk that an archive path names after following links, or null. */
  async resolve(name: string): Promise<string | null> {
    const relative = this.resolveLinks(cleanEntryPath(name), 0);
    const stats = await stat(this.tree.absolute(relative)).catch(() => null);
    return stats?.isFile() ? this.tree.absolute(relative) : null;
  }

  private resolveLinks(relative: string, hops: number): string {
    if (hops > MAX_LINK_HOPS) throw new UnsafeEntryError(relative, `needs more than ${MAX_LINK_HOPS} links to resolve`);

    const parts = relative.split('/');
    for (let index = 0; index < parts.length; index += 1) {
      const prefix = parts.slice(0, index + 1).join('/');
      const rest = parts.slice(index + 1).join('/');
      const symlink = this.symlinks.get(prefix);
      if (symlink !== undefined) {
        const base = symlink.startsWith('/') ? symlink : path.posix.join(path.posix.dirname(prefix), symlink);
        const target = cleanEntryPath(base);
        return this.resolveLinks(rest ? `${target}/${rest}` : target, hops + 1);
      }
      const hardLink = this.hardLinks.get(prefix);
      if (hardLink !== undefined && rest === '') return this.resolveLinks(hardLink, hops + 1);
    }
    return relative;
  }

  private async addEntry(header: tarStream.Header, content: AsyncIterable<Buffer>): Promise<void> {
    const relative = cleanEntryPath(header.name);
    if (relative === '') return;

    switch (header.type) {
      case 'directory':
        await this.tree.ensureParents(relative, header.name);
        await mkdir(this.tree.absolute(relative), { recursive: true });
        this.tree.markDirectory(relative);
        return;
      case 'file':
      case 'contiguous-file':
        await this.tree.ensureParents(relative, header.name);
        await writeNewFile(this.tree.absolute(relative), content);
        return;
      case 'symlink':
        this.symlinks.set(relative, header.linkname ?? '');
        return;
      case 'link':
        this.hardLinks.set(relative, cleanEntryPath(header.linkname ?? ''));
        return;
      default:
        // Devices and fifos have no place in an image archive; they are skipped.
        return;
    }
  }
}

async function writeNewFile(target: string, content: AsyncIterable<Buffer>): Promise<void> {
  const handle = await open(target, 'w', 0o600);
  try {
    for await (const chunk of content) {
      let offset = 0;
      while (offset < chunk.length) offset += (await handle.write(chunk, offset, chunk.length - offset)).bytesWritten;
    }
  } finally {
    await handle.close();
  }
}
