import type { Redis } from 'ioredis';

/**
 * Build secrets travel from the API to the build worker through Redis, never through the
 * database: the API stores them under the build's id before it queues the build, and the
 * worker takes them (read and delete in one transaction) when the build starts, so they
 * stay in Redis only while the build waits in the queue.
 * NOTE: a Redis with persistence (the embedded one writes an AOF file) keeps them on its
 * disk until the file is rewritten. Point REDIS_URL at a Redis without persistence, or
 * one whose disk is encrypted, when that matters.
 */

/** Secrets of a build that never starts expire after this long. */
export const BUILD_SECRETS_TTL_SECONDS = 24 * 3600;

export function buildSecretsKey(buildId: string): string {
  return `build-secrets:${buildId}`;
}

/** Stores a build's secrets; call it before the build is queued. Does nothing for none. */
export async function storeBuildSecrets(redis: Redis, buildId: string, secrets: ReadonlyMap<string, Buffer>): Promise<void> {
  if (secrets.size === 0) return;
  const fields = Object.fromEntries([...secrets].map(([id, value]) => [id, value.toString('base64')]));
  await redis.multi().hset(buildSecretsKey(buildId), fields).expire(buildSecretsKey(buildId), BUILD_SECRETS_TTL_SECONDS).exec();
}

/** Reads and deletes a build's secrets; an empty map when it has none or they expired. */
export async function takeBuildSecrets(redis: Redis, buildId: string): Promise<Map<string, Buffer>> {
  const results = await redis.multi().hgetall(buildSecretsKey(buildId)).del(buildSecretsKey(buildId)).exec();
  const [error, fields] = results?.[0] ?? [null, {}];
  if (error) throw error;
  return new Map(Object.entries((fields ?? {}) as Record<string, string>).map(([id, value]) => [id, Buffer.from(value, 'base64')]));
}

/** Deletes a build's secrets, for a build that ends without taking them. */
export async function dropBuildSecrets(redis: Redis, buildId: string): Promise<void> {
  await redis.del(buildSecretsKey(buildId));
}
