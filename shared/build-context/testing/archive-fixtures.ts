import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { pack, type Header } from 'tar-stream';

/** Test support: temporary folders and hand-made tar archives for the build-context tests. */

const execFileAsync = promisify(execFile);

export interface TempFolder {
  path: string;
  remove(): Promise<void>;
}

export async function createTempFolder(prefix = 'slipway-context-test-'): Promise<TempFolder> {
  const folder = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: folder, remove: () => rm(folder, { recursive: true, force: true }) };
}

export type FixtureEntry = Partial<Header> & { name: string; content?: string | Buffer };

/** Writes entries exactly as given with tar-stream, which lets tests make archives GNU tar refuses to make. */
export async function writeArchive(filePath: string, entries: FixtureEntry[], options: { gzip?: boolean } = {}): Promise<void> {
  const archive = pack();
  const written = options.gzip
    ? pipeline(archive as unknown as Readable, createGzip(), createWriteStream(filePath))
    : pipeline(archive as unknown as Readable, createWriteStream(filePath));
  for (const { content, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const body = content === undefined ? undefined : Buffer.from(content);
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) archive.entry({ type: 'file', mode: 0o644, ...header, size: body.length }, body, callback);
      else archive.entry({ mode: header.type === 'directory' ? 0o755 : 0o644, ...header }, callback);
    });
  }
  archive.finalize();
  await written;
}

/** Runs GNU tar with `args` in `cwd`. */
export async function runTar(args: string[], cwd: string): Promise<void> {
  await execFileAsync('tar', args, { cwd });
}
