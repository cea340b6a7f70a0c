import { createReadStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Context } from 'hono';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import { LocalBlobStore } from '../../shared/blobs/local-blob-store.ts';
import { isDigest, type Digest } from '../../shared/oci/digest.ts';
import { RegistryError } from './registry-errors.ts';
import type { Repository } from './repositories.ts';

/** An inclusive byte range of a blob, as HTTP Range headers count. */
export interface ByteRange {
  start: number;
  end: number;
}

export function parseBlobDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new RegistryError('DIGEST_INVALID', `Digest ${JSON.stringify(value)} is invalid: use "sha256:" and 64 lowercase hex digits.`, { detail: { digest: value } });
  }
  return value;
}

/**
 * Parses a Range header of one range (`bytes=0-99`, `bytes=100-`, `bytes=-50`) against a
 * blob's size. Returns null when there is no header, and throws a 416 for a range the
 * blob cannot satisfy or for several ranges, which are not supported.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null {
  if (!header) return null;

  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const unsatisfiable = () =>
    new RegistryError('SIZE_INVALID', `Range ${JSON.stringify(header)} cannot be served from a blob of ${size} bytes: request one range inside it.`, {
      status: 416,
      headers: { 'Content-Range': `bytes */${size}` },
      detail: { range: header, size },
    });
  if (!match || (match[1] === '' && match[2] === '')) throw unsatisfiable();

  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) throw unsatisfiable();
  return { start, end };
}

/** GET and HEAD of `/v2/<name>/blobs/<digest>`, streamed from the blob store, with single Range requests. */
export async function getBlob(c: Context, blobs: BlobStore, repository: Repository, digestText: string): Promise<Response> {
  // The caller checks that an owner's token reads only blobs its repository references
  // (repository-blobs.ts). An admin token reads any stored blob.
  const digest = parseBlobDigest(digestText);
  const stat = await blobs.stat(digest);
  if (!stat) {
    throw new RegistryError('BLOB_UNKNOWN', `Blob ${digest} is unknown in repository ${repository.name}.`, { detail: { name: repository.name, digest } });
  }

  const range = parseRange(c.req.header('range'), stat.size);
  const length = range ? range.end - range.start + 1 : stat.size;
  c.header('Content-Type', 'application/octet-stream');
  c.header('Docker-Content-Digest', digest);
  c.header('Accept-Ranges', 'bytes');
  c.header('Content-Length', String(length));
  c.header('ETag', `"${digest}"`);
  if (range) c.header('Content-Range', `bytes ${range.start}-${range.end}/${stat.size}`);
  const status = range ? 206 : 200;
  if (c.req.method === 'HEAD') return c.body(null, status);

  const stream = await openBlob(blobs, digest, range);
  return c.body(Readable.toWeb(stream) as ReadableStream, status);
}

/**
 * Opens a blob, or part of it. Local blob files are read from the offset; other stores
 * stream from the start and skip the bytes before it.
 */
async function openBlob(blobs: BlobStore, digest: Digest, range: ByteRange | null): Promise<Readable> {
  if (range && blobs instanceof LocalBlobStore) return createReadStream(blobs.blobPath(digest), { start: range.start, end: range.end });

  // TODO: S3 can serve ranges itself, or redirect to a presigned URL. Skipping reads the
  // bytes before the range from the bucket, which costs time on a resumed pull of a large layer.
  const whole = await blobs.get(digest);
  if (!range) return whole;
  const slice = sliceBytes(range);
  whole.on('error', (error) => slice.destroy(error));
  return whole.pipe(slice);
}

/** Makes a pass-through that keeps only the bytes of `range`, counted from the start of the stream. */
function sliceBytes(range: ByteRange): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const from = Math.max(range.start - offset, 0);
      const to = Math.min(range.end + 1 - offset, chunk.length);
      offset += chunk.length;
      callback(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
