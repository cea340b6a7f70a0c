import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api-client.ts';

/** Times a stream may be read again after it broke off, before the error reaches the user. */
const MAX_RECONNECTS = 20;
const RECONNECT_DELAY_MS = 500;

/**
 * Reads a followed text stream of the API (`?follow=true`) to its end, and reads it
 * again when the connection breaks off before the end. Node's fetch ends a response
 * body after 300 s without data (undici's bodyTimeout), which a silent build step or a
 * quiet app easily reaches. `resume` sets how to continue without repeating text:
 * `'skip-seen'` requests the same path again and drops the bytes already passed on
 * (a build log is replayed from its start), and a function, called when the stream
 * breaks, gives the path that continues from there (an app log, with `since`).
 */
export async function followStream(
  client: ApiClient,
  path: string,
  onChunk: (chunk: Buffer) => void,
  resume: 'skip-seen' | ((path: string) => string),
): Promise<void> {
  let seen = 0;
  let nextPath = path;
  for (let reconnects = 0; ; reconnects += 1) {
    const response = await client.request('GET', nextPath);
    let skip = resume === 'skip-seen' ? seen : 0;
    try {
      for await (const received of Readable.fromWeb(response.body as never)) {
        let chunk = received as Buffer;
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
        seen += chunk.length;
        onChunk(chunk);
      }
      return;
    } catch (error) {
      if (reconnects >= MAX_RECONNECTS) throw error;
    }
    nextPath = resume === 'skip-seen' ? path : resume(path);
    await sleep(RECONNECT_DELAY_MS);
  }
}
