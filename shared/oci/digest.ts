import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ValidationError } from '../errors.ts';

/** A content digest as the OCI image spec writes it; Slipway only produces and accepts sha256. */
export type Digest = `sha256:${string}`;

const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_PATTERN.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new ValidationError(
      'DIGEST_INVALID',
      `${JSON.stringify(value)} is not a valid digest: expected "sha256:" followed by 64 lowercase hex digits.`,
    );
  }
  return value;
}

/** The hex part of a digest, as used in blob paths (`blobs/sha256/<hex>`). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it. Read `digest()`
 * and `size` once the stream has ended.
 */
export class DigestingStream extends Transform {
  size = 0;
  private readonly hash: Hash = createHash('sha256');
  private result: Digest | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  digest(): Digest {
    this.result ??= `sha256:${this.hash.digest('hex')}`;
    return this.result;
  }
}
