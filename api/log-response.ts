import type { Redis } from 'ioredis';
import type { StreamingApi } from 'hono/utils/stream';
import type { RedisLogStream } from '../shared/logs/log-stream.ts';

/**
 * Writes a log stream to an HTTP response as text lines. A follower gets a Redis
 * connection of its own for blocking reads, closed when the client goes away or the
 * log ends.
 */
export async function pipeLogToResponse(
  redis: Redis,
  log: RedisLogStream,
  output: StreamingApi,
  options: { follow: boolean; timestamps: boolean; tail?: number },
): Promise<void> {
  const abort = new AbortController();
  output.onAbort(() => abort.abort());
  const blockingClient = options.follow ? redis.duplicate() : undefined;

  try {
    for await (const entry of log.read({ follow: options.follow, signal: abort.signal, tail: options.tail, blockingClient })) {
      const prefix = options.timestamps ? `${new Date(entry.time).toISOString()} ` : '';
      await output.write(`${prefix}${entry.data}`);
    }
  } finally {
    blockingClient?.disconnect();
  }
}
