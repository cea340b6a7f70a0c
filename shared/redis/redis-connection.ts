import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: a URL (`redis://host:port/db`) or the embedded server's unix socket. */
export type RedisLocation = { url: string } | { socketPath: string };

/**
 * Opens a Redis connection. `maxRetriesPerRequest: null` is what BullMQ requires of
 * connections that workers block on; commands wait for a reconnect instead of failing.
 */
export function connectRedis(location: RedisLocation, options: RedisOptions = {}): Redis {
  const shared: RedisOptions = { maxRetriesPerRequest: null, ...options };
  return 'url' in location ? new Redis(location.url, shared) : new Redis({ path: location.socketPath, ...shared });
}
