import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { BlobTooLargeError } from '../../shared/blobs/blob-store.ts';
import { spoolToFile, type SpooledFile } from '../../shared/blobs/spool.ts';
import { SlipwayError, ValidationError } from '../../shared/errors.ts';

export class ContextTooLargeError extends SlipwayError {
  constructor(maxBytes: number) {
    super(
      'CONTEXT_TOO_LARGE',
      `The build context is larger than the limit of ${maxBytes} bytes: add large files that the build does not need to .dockerignore, or raise SLIPWAY_MAX_CONTEXT_BYTES on the server.`,
      { kind: 'user', status: 413, details: { maxBytes } },
    );
  }
}

/**
 * Streams a request body to a spool file in `folder`, hashing it on the way and
 * stopping at `maxBytes`; the body is never held in memory. A declared Content-Length
 * over the limit is rejected before a byte is read.
 */
export async function receiveContext(request: Request, folder: string, maxBytes: number): Promise<SpooledFile> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw new ContextTooLargeError(maxBytes);
  if (!request.body) {
    throw new ValidationError('CONTEXT_MISSING', 'The request has no body: send the build context as a tar or tar.gz archive.');
  }

  try {
    return await spoolToFile(Readable.fromWeb(request.body as WebReadableStream<Uint8Array>), path.join(folder), { maxBytes });
  } catch (error) {
    if (error instanceof BlobTooLargeError) throw new ContextTooLargeError(maxBytes);
    throw error;
  }
}
