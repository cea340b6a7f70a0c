import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { ContextError, SEND_A_TAR_HINT } from './context-errors.ts';

const GZIP_MAGIC = [0x1f, 0x8b];

/** Compressions docker accepts that Slipway does not unpack, detected to say so plainly. */
const OTHER_COMPRESSIONS: [string, number[]][] = [
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return magic.every((byte, index) => bytes[index] === byte);
}

/** Reads the first bytes of the file: gzip (by its magic bytes) or plain tar. Rejects an empty file and other compressions. */
export async function detectCompression(filePath: string): Promise<{ compressed: boolean }> {
  const handle = await open(filePath, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(8), 0, 8, 0);
    if (bytesRead === 0) throw new ContextError('CONTEXT_NOT_A_TAR', `The request body is empty, not a tar or tar.gz archive. ${SEND_A_TAR_HINT}`);

    const other = OTHER_COMPRESSIONS.find(([, magic]) => startsWith(buffer, magic));
    if (other) {
      throw new ContextError('CONTEXT_NOT_A_TAR', `The request body is compressed with ${other[0]}, which Slipway does not unpack: send a tar or tar.gz archive. ${SEND_A_TAR_HINT}`, {
        compression: other[0],
      });
    }
    return { compressed: startsWith(buffer, GZIP_MAGIC) };
  } finally {
    await handle.close();
  }
}

/** Called for each entry in archive order; the content stream must be read or drained before the next entry arrives. */
export type EntryVisitor = (header: Header, content: Readable) => Promise<void>;

/**
 * Streams the entries of a tar or gzip'd tar file to `visit`, one at a time, so memory
 * stays flat whatever the archive's size. A file that does not parse as a tar before its
 * first entry is CONTEXT_NOT_A_TAR; a failure after that is CONTEXT_ARCHIVE_CORRUPT.
 */
export async function forEachEntry(filePath: string, compressed: boolean, visit: EntryVisitor): Promise<void> {
  const source = createReadStream(filePath);
  const gunzip = compressed ? createGunzip() : undefined;
  const entries = extract();
  const fail = (error: Error) => entries.destroy(error);
  source.on('error', fail);
  gunzip?.on('error', fail);
  (gunzip ? source.pipe(gunzip) : source).pipe(entries as unknown as NodeJS.WritableStream);

  let seen = 0;
  let current = '';
  try {
    for await (const entry of entries) {
      seen += 1;
      current = entry.header.name;
      await visit(entry.header, entry as unknown as Readable);
    }
  } catch (error) {
    if (error instanceof ContextError) throw error;
    throw readFailure(error, compressed, seen, current);
  } finally {
    source.destroy();
    gunzip?.destroy();
  }
}

function readFailure(error: unknown, compressed: boolean, seen: number, current: string): ContextError {
  const reason = error instanceof Error ? error.message : String(error);
  if (seen === 0) {
    const what = compressed ? 'gzip-compressed, but what it holds is not a tar archive' : 'neither a tar archive nor gzip-compressed';
    return new ContextError('CONTEXT_NOT_A_TAR', `The request body is not a tar or tar.gz archive: it is ${what} (${reason}). ${SEND_A_TAR_HINT}`, {}, error);
  }
  return new ContextError(
    'CONTEXT_ARCHIVE_CORRUPT',
    `The build context archive is truncated or corrupt after the entry ${JSON.stringify(current)} (${reason}): pack and upload it again.`,
    { entry: current },
    error,
  );
}

/** Reads an entry's content into memory, failing with `tooLarge()` past `maxBytes`. */
export async function readEntryText(header: Header, content: Readable, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (header.size > maxBytes) {
    content.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and discards an entry's content. */
export async function drain(content: Readable): Promise<void> {
  for await (const _chunk of content) {
    // Each entry must be consumed before tar-stream moves to the next one.
  }
}
