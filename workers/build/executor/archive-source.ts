import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ValidationError } from '../../../shared/errors.ts';
import { CommandFailedError, runCommand } from '../../../shared/process/run-command.ts';

/** Compression formats that docker's ADD recognises by their magic numbers. */
const MAGIC_NUMBERS: { format: Compression; magic: Buffer }[] = [
  { format: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]) },
  { format: 'bzip2', magic: Buffer.from('BZh') },
  { format: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { format: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
];

type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

const TAR_BLOCK = 512;
/** ustar header: the checksum field's offset and length. */
const CHECKSUM_OFFSET = 148;
const CHECKSUM_LENGTH = 8;

/**
 * Checks whether ADD should extract a local file, the way docker decides: by content,
 * not by name. The file may be plain or compressed with gzip, bzip2, xz or zstd, and its
 * first (decompressed) 512-byte block must be a tar header with a valid checksum. An
 * empty file, or a compressed file that contains something else, is copied as it is.
 */
export async function isTarArchive(file: string): Promise<boolean> {
  const compression = await detectCompression(file);
  const head = await readDecompressedHead(file, compression).catch(() => Buffer.alloc(0));
  return head.length === TAR_BLOCK && hasValidHeaderChecksum(head);
}

/**
 * Extracts a tar archive into `targetDir`, an empty folder of the build's own, with GNU
 * tar, which detects the compression itself. Owners and modes come from the archive.
 * GNU tar skips member names with `..`, strips a leading `/`, and writes a symbolic link
 * whose target is absolute or contains `..` only at the end, so no member is written
 * through a link of the archive. The caller then copies the folder into the image with
 * its own checks; extracting into the image directly could follow the image's links.
 */
export async function extractTarArchive(file: string, targetDir: string, displayName: string): Promise<void> {
  const args = [
    '--extract', '--file', file, '--directory', targetDir,
    '--numeric-owner', '--same-owner', '--same-permissions', '--delay-directory-restore', '--no-overwrite-dir',
  ];
  try {
    await runCommand('tar', args);
  } catch (error) {
    if (!(error instanceof CommandFailedError)) throw error;
    throw new ValidationError(
      'ADD_ARCHIVE_INVALID',
      `Extracting the archive ${displayName} failed: ${error.stderr || 'tar printed nothing'}. Check that the archive is complete and has no members that climb out of it or pass through links.`,
      { cause: error, details: { source: displayName } },
    );
  }
}

async function detectCompression(file: string): Promise<Compression> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const start = head.subarray(0, bytesRead);
    return MAGIC_NUMBERS.find(({ magic }) => start.subarray(0, magic.length).equals(magic))?.format ?? 'none';
  } finally {
    await handle.close();
  }
}

/** Reads the first tar block of the file, decompressing it with zlib or the format's command-line tool. */
async function readDecompressedHead(file: string, compression: Compression): Promise<Buffer> {
  if (compression === 'none') return readHead(createReadStream(file, { end: TAR_BLOCK - 1 }));
  if (compression === 'gzip') {
    const source = createReadStream(file);
    try {
      return await readHead(source.pipe(createGunzip()));
    } finally {
      source.destroy();
    }
  }

  const child = spawn(compression, ['--decompress', '--stdout', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.on('error', () => undefined);
  try {
    return await readHead(child.stdout);
  } finally {
    child.kill();
  }
}

async function readHead(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= TAR_BLOCK) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, TAR_BLOCK);
}

/**
 * Checks a tar header block: its checksum field (octal) equals the sum of the block's
 * bytes with the field itself counted as spaces. Go's archive/tar also accepts the sum
 * of signed bytes that some old tar programs wrote. An all-zero block is the end of an
 * archive, so it is no header.
 */
export function hasValidHeaderChecksum(block: Buffer): boolean {
  if (block.every((byte) => byte === 0)) return false;

  const field = block.subarray(CHECKSUM_OFFSET, CHECKSUM_OFFSET + CHECKSUM_LENGTH).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const expected = Number.parseInt(field, 8);

  let unsigned = 0;
  let signed = 0;
  for (const [index, byte] of block.entries()) {
    const value = index >= CHECKSUM_OFFSET && index < CHECKSUM_OFFSET + CHECKSUM_LENGTH ? 0x20 : byte;
    unsigned += value;
    signed += value > 127 ? value - 256 : value;
  }
  return expected === unsigned || expected === signed;
}
