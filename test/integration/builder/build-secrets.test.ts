import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../../shared/redis/redis-connection.ts';
import { BUILD_SECRETS_TTL_SECONDS, buildSecretsKey, dropBuildSecrets, storeBuildSecrets, takeBuildSecrets } from '../../../workers/build/build-secrets.ts';

describe('build secrets in Redis', () => {
  let dir: string;
  let server: EmbeddedRedis;
  let redis: Redis;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-build-secrets-'));
    server = await startEmbeddedRedis(dir);
    redis = connectRedis({ socketPath: server.socketPath });
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('hands the secrets to the worker once and deletes them', async () => {
    await storeBuildSecrets(redis, 'build-1', new Map([['token', Buffer.from([0, 1, 2, 255])]]));

    const secrets = await takeBuildSecrets(redis, 'build-1');

    expect(secrets).toEqual(new Map([['token', Buffer.from([0, 1, 2, 255])]]));
    expect(await redis.exists(buildSecretsKey('build-1'))).toBe(0);
    expect(await takeBuildSecrets(redis, 'build-1')).toEqual(new Map());
  });

  it('lets secrets of a build that never starts expire', async () => {
    await storeBuildSecrets(redis, 'build-2', new Map([['a', Buffer.from('x')]]));

    const ttl = await redis.ttl(buildSecretsKey('build-2'));

    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(BUILD_SECRETS_TTL_SECONDS);
  });

  it('drops the secrets of a build that ends without taking them', async () => {
    await storeBuildSecrets(redis, 'build-3', new Map([['a', Buffer.from('x')]]));

    await dropBuildSecrets(redis, 'build-3');

    expect(await redis.exists(buildSecretsKey('build-3'))).toBe(0);
  });

  it('stores nothing for a build without secrets', async () => {
    await storeBuildSecrets(redis, 'build-4', new Map());

    expect(await redis.exists(buildSecretsKey('build-4'))).toBe(0);
  });
});
