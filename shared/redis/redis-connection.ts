import { Redis, type RedisOptions } from 'ioredis';
import { createLogger } from '../logger.ts';

const log = createLogger('redis');

/** Where Redis is: a URL (`redis://host:port/db`) or the embedded server's unix socket. */
export type RedisLocation = { url: string } | { socketPath: string };

/**
 * Opens a Redis connection. `maxRetriesPerRequest: null` is what BullMQ requires of
 * connections that workers block on; commands wait for a reconnect instead of failing.
 */
export function connectRedis(location: RedisLocation, options: RedisOptions = {}): Redis {
  const shared: RedisOptions = { maxRetriesPerRequest: null, ...options };
  const redis = 'url' in location ? new Redis(location.url, shared) : new Redis({ path: location.socketPath, ...shared });
  // ioredis reconnects by itself; without a listener each failed attempt would print a
  // stack trace, so attempts are logged once per distinct message instead.
  let lastMessage = '';
  redis.on('error', (error: Error) => {
    if (error.message === lastMessage) return;
    lastMessage = error.message;
    log.warn({ err: error.message }, 'redis connection failed; retrying');
  });
  redis.on('ready', () => {
    lastMessage = '';
  });
  return redis;
}
