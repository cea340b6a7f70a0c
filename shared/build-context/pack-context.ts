import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack, type Pack } from 'tar-stream';
import { createLogger } from '../logger.ts';
import { validateDockerfilePath } from './context-paths.ts';
import { createIgnoreMatcher, dockerignoreCandidates, type IgnoreMatcher } from './dockerignore.ts';

const log = createLogger('build-context');

export interface PackOptions {
  /** The Dockerfile's path in the folder; `Dockerfile` by default. It is always packed, even when ignored. */
  dockerfile?: string;
  /**
   * The ignore rules as text. When absent, `<dockerfile>.dockerignore` or else
   * `.dockerignore` is read from the folder; null packs everything.
   */
  dockerignore?: string | null;
  /** Called as file content is read, with the total number of bytes read so far. */
  onProgress?: (bytesRead: number) => void;
}

/**
 * Packs a folder as a gzip'd tar stream for upload, the way `docker build` sends a
 * context. Paths are relative to the folder and .dockerignore is honoured, with the
 * Dockerfile and ignore files always included as docker's client does. Symlinks are
 * stored as links, modes and modification times are kept, and owners are set to 0.
 * `.git` is packed unless .dockerignore excludes it. Sockets, FIFOs and devices are
 * left out. An error (an unreadable file, an invalid Dockerfile path) destroys the
 * returned stream with the error.
 */
export function packContext(dir: string, options: PackOptions = {}): Readable {
  const archive = pack();
  const output = new PassThrough();
  const root = path.resolve(dir);

  void (async () => {
    const dockerfile = validateDockerfilePath(options.dockerfile);
    const ignoreText = options.dockerignore !== undefined ? options.dockerignore : await readIgnoreFile(root, dockerfile);
    const matcher = createIgnoreMatcher(ignoreText, [dockerfile, ...dockerignoreCandidates(dockerfile)]);
    const packer = new FolderPacker(root, archive, matcher, options.onProgress);
    const gzipped = pipeline(archive as unknown as Readable, createGzip(), output);
    // A failure while walking is reported through `output` below; this marks the promise as handled meanwhile.
    gzipped.catch(() => undefined);

    await packer.packFolder('');
    archive.finalize();
    await gzipped;
    log.debug({ dir: root, bytes: packer.bytesRead }, 'context packed');
  })().catch((error: unknown) => {
    output.destroy(error as Error);
    archive.destroy();
  });
  return output;
}

async function readIgnoreFile(root: string, dockerfile: string): Promise<string | null> {
  for (const candidate of dockerignoreCandidates(dockerfile)) {
    const text = await readFile(path.join(root, candidate), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (text !== null) return text;
  }
  return null;
}

class FolderPacker {
  bytesRead = 0;

  constructor(
    private readonly root: string,
    private readonly archive: Pack,
    private readonly matcher: IgnoreMatcher,
    private readonly onProgress: ((bytesRead: number) => void) | undefined,
  ) {}

  /** Packs the children of `relative` in name order, so the same folder gives the same archive. */
  async packFolder(relative: string): Promise<void> {
    const names = (await readdir(path.join(this.root, relative))).sort();
    for (const name of names) {
      const child = relative === '' ? name : `${relative}/${name}`;
      await this.packPath(child);
    }
  }

  private async packPath(relative: string): Promise<void> {
    const absolute = path.join(this.root, relative);
    const stats = await lstat(absolute);
    const ignored = this.matcher.ignores(relative);

    if (stats.isDirectory()) {
      // docker's client walks into an excluded folder only when a `!` line may re-include something in it.
      if (ignored && !this.matcher.hasExceptions) return;
      if (!ignored) await this.addEntry({ name: `${relative}/`, type: 'directory', mode: stats.mode & 0o7777, mtime: stats.mtime });
      return this.packFolder(relative);
    }
    if (ignored) return;

    if (stats.isSymbolicLink()) {
      await this.addEntry({ name: relative, type: 'symlink', linkname: await readlink(absolute), mode: stats.mode & 0o7777, mtime: stats.mtime });
    } else if (stats.isFile()) {
      // NOTE: hard-linked files are packed once per name, so their content is stored twice; docker's client writes tar hard links.
      await this.addFile(relative, absolute, stats.size, stats.mode & 0o7777, stats.mtime);
    } else {
      log.debug({ path: relative }, 'special file left out of context');
    }
  }

  private addEntry(header: Parameters<Pack['entry']>[0]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.archive.entry({ uid: 0, gid: 0, ...header }, (error) => (error ? reject(error) : resolve()));
    });
  }

  private async addFile(name: string, absolute: string, size: number, mode: number, mtime: Date): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      const sink = this.archive.entry({ name, type: 'file', size, mode, mtime, uid: 0, gid: 0 }, (error) => (error ? reject(error) : resolve()));
      // Read exactly the size in the header; a file that grows while packing is cut there.
      if (size === 0) {
        (sink as unknown as NodeJS.WritableStream).end();
        return;
      }
      const content = createReadStream(absolute, { end: size - 1 });
      content.on('data', (chunk: string | Buffer) => {
        this.bytesRead += chunk.length;
        this.onProgress?.(this.bytesRead);
      });
      content.on('error', reject);
      content.pipe(sink as unknown as NodeJS.WritableStream);
    });
    await done;
  }
}
