import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ValidationError } from '../../../shared/errors.ts';
import type { FetchGuard } from './fetch-guard.ts';

/** Redirects an ADD download follows, as curl's default of 50 is more than any real setup needs. */
const MAX_REDIRECTS = 10;

export interface DownloadRequest {
  url: string;
  /** File to write the body to; removed again when the download fails. */
  file: string;
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** `sha256:<hex>` from ADD --checksum: the body must have this digest. */
  expectedDigest?: string;
  /** Rejects hosts that are the build host itself, also after a redirect. */
  guard: FetchGuard;
}

export interface Download {
  file: string;
  /** The file name ADD gives the download: the last segment of the URL's path. */
  fileName: string;
  digest: string;
  size: number;
  /** From the Last-Modified header; ADD sets it as the file's mtime. */
  lastModified?: Date;
}

/**
 * Downloads an ADD source URL in the worker process. A host that is the build host
 * itself (see FetchGuard) is rejected with ADD_SOURCE_FORBIDDEN, also after a redirect.
 */
export async function downloadUrl(request: DownloadRequest): Promise<Download> {
  const fileName = urlFileName(request.url);
  const deadline = AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs)]);
  try {
    const response = await get(request.url, request.guard, deadline);
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > request.maxBytes) return done(tooLarge(request.url, request.maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(response, counter, createWriteStream(request.file, { mode: 0o600 }), { signal: deadline });
    // ADD gives a URL's file mode 600 (Dockerfile reference, "Adding files from a URL"), whatever the umask.
    await chmod(request.file, 0o600);

    const digest = `sha256:${hash.digest('hex')}`;
    if (request.expectedDigest !== undefined && request.expectedDigest !== digest) {
      throw new ValidationError(
        'ADD_CHECKSUM_MISMATCH',
        `ADD ${request.url}: the download has the digest ${digest}, but --checksum expects ${request.expectedDigest}: check the URL or update the checksum.`,
        { details: { url: request.url, digest, expected: request.expectedDigest } },
      );
    }
    const modified = response.headers['last-modified'];
    const lastModified = modified === undefined ? undefined : new Date(modified);
    return { file: request.file, fileName, digest, size, ...(lastModified && !Number.isNaN(lastModified.getTime()) ? { lastModified } : {}) };
  } catch (error) {
    await rm(request.file, { force: true });
    if (error instanceof ValidationError) throw error;
    throw downloadFailed(request.url, error, deadline);
  }
}

/** Checks an ADD --checksum value for a URL: `sha256:` and 64 hex digits, the only algorithm BuildKit takes. */
export function parseUrlChecksum(value: string, url: string): string {
  if (/^sha256:[a-f0-9]{64}$/.test(value)) return value;
  throw new ValidationError('ADD_CHECKSUM_INVALID', `ADD --checksum=${value} for ${url} is invalid: give sha256: followed by 64 lowercase hex digits.`, {
    details: { checksum: value },
  });
}

/** The last segment of the URL's path, which names the downloaded file. */
export function urlFileName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  if (name === '' || name === '.' || name === '..' || name.includes('/')) {
    throw new ValidationError('ADD_URL_INVALID', `ADD ${url}: the URL path names no file, so the download has no name: use a URL whose path ends in a file name.`, {
      details: { url },
    });
  }
  return name;
}

async function get(url: string, guard: FetchGuard, signal: AbortSignal, redirects = 0): Promise<IncomingMessage> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`${target.protocol} URLs are not downloaded`);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal)) guard.checkAddress(url, target.hostname, port, literal);

  const client = target.protocol === 'https:' ? https : http;
  const lookup = guard.isAllowed(target.hostname, port) ? undefined : guard.lookupFor(url, port);
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = client.get(target, { signal, lookup, headers: { 'user-agent': 'slipway-builder' } }, resolve);
    request.on('error', reject);
  });

  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400 && response.headers.location) {
    response.resume();
    if (redirects >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
    return get(new URL(response.headers.location, target).toString(), guard, signal, redirects + 1);
  }
  if (status !== 200) {
    response.resume();
    throw new Error(`the server answered ${status} ${response.statusMessage ?? ''}`.trim());
  }
  return response;
}

function tooLarge(url: string, maxBytes: number): ValidationError {
  return new ValidationError(
    'BUILD_DISK_LIMIT',
    `ADD ${url}: the download is larger than the ${maxBytes} bytes left of the build's disk limit: raise SLIPWAY_BUILD_DISK_BYTES or download a smaller file.`,
    { details: { url, maxBytes } },
  );
}

function downloadFailed(url: string, error: unknown, signal: AbortSignal): ValidationError {
  const reason = signal.aborted ? 'the download was stopped (build cancelled or step time limit reached)' : (error as Error).message;
  return new ValidationError('ADD_DOWNLOAD_FAILED', `ADD ${url} failed: ${reason}. Check that the URL is reachable from the build worker.`, {
    cause: error,
    details: { url },
  });
}

/** Returns the name a download gets at `destination`: the destination itself, or the file name inside it for a folder destination. */
export function downloadTarget(destination: string, intoFolder: boolean, fileName: string): string {
  return intoFolder ? path.posix.join(destination, fileName) : destination;
}
