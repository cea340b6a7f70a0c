import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from 'hono';
import { RegistryError } from './registry-errors.ts';

/** Returns the request body as a Node stream, which is empty when the request has no body. */
export function requestStream(c: Context): Readable {
  const body = c.req.raw.body;
  return body ? Readable.fromWeb(body as WebReadableStream<Uint8Array>) : Readable.from([]);
}

/** Reads a small request body into memory, failing with SIZE_INVALID past `maxBytes`. */
export async function readBody(c: Context, maxBytes: number, subject: string): Promise<Buffer> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(subject, maxBytes);

  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of requestStream(c)) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw tooLarge(subject, maxBytes);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(subject: string, maxBytes: number): RegistryError {
  return new RegistryError('SIZE_INVALID', `${subject} is larger than the limit of ${maxBytes} bytes.`, { detail: { maxBytes } });
}
