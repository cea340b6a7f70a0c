import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Readable as NodeReadable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../../shared/logger.ts';
import { consumeNow } from './git-process.ts';

/** The two smart-HTTP services: fetch and clone use upload-pack, push uses receive-pack. */
export type GitService = 'upload-pack' | 'receive-pack';

/** Formats one pkt-line: four hex digits of length (including themselves), then the data. */
export function pktLine(data: string): string {
  return `${(Buffer.byteLength(data) + 4).toString(16).padStart(4, '0')}${data}`;
}

/** The pkt-line flush packet, which ends a section. */
export const FLUSH_PACKET = '0000';

/**
 * Returns GIT_PROTOCOL for a git process from the request's `Git-Protocol` header, as
 * git http-backend passes it on. Only the characters git's protocol parameters use
 * (`version=2`, `key=value:key2`) are let through.
 */
export function gitProtocolEnvironment(header: string | undefined): Record<string, string> {
  return header && /^[A-Za-z0-9=:._-]{1,256}$/.test(header) ? { GIT_PROTOCOL: header } : {};
}

/** Whether the request asked for protocol version 2, whose advertisement has no `# service=` header. */
export function wantsProtocolV2(header: string | undefined): boolean {
  return header?.split(':').includes('version=2') ?? false;
}

/**
 * Feeds a request body to a git process's stdin, decompressing it when the client sent
 * `Content-Encoding: gzip` (git does so for large fetch negotiations). A client that
 * disconnects mid-body ends the pipe, and git then fails on the short input.
 */
export function pipeRequestBody(request: Request, stdin: Writable, log: Logger): void {
  if (!request.body) {
    stdin.end();
    return;
  }
  const body = NodeReadable.fromWeb(request.body as WebReadableStream<Uint8Array>);
  const gzip = request.headers.get('content-encoding')?.toLowerCase() === 'gzip';
  const done = gzip ? pipeline(body, createGunzip(), stdin) : pipeline(body, stdin);
  done.catch((error: unknown) => log.debug({ err: (error as Error).message }, 'git request body ended early'));
}

/**
 * Turns a git process's stdout into a response body that reads only as fast as the
 * client takes it. When the client goes away, `onCancel: 'kill'` ends the process, while
 * `'drain'` lets it run to its end with its output discarded: a push whose client
 * disconnected still finishes its deploy, and its ref then moves as the deploy decides.
 */
export function responseBody(child: ChildProcess, onCancel: 'kill' | 'drain'): ReadableStream<Uint8Array> {
  const output = consumeNow(child.stdout as Readable);
  const chunks = output[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(new Uint8Array(next.value as Buffer));
      },
      cancel() {
        if (onCancel === 'kill') {
          child.kill();
          return;
        }
        // Discards the rest of the output, so that git does not block on a full pipe.
        output.resume();
      },
    },
    { highWaterMark: 0 },
  );
}
