import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { apps, builds } from '../../../shared/db/schema.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../../shared/redis/redis-connection.ts';
import {
  BUILD_SECRETS_TTL_SECONDS,
  buildSecretsKey,
  dropBuildSecrets,
  openBuildSecrets,
  sealBuildSecrets,
  storeBuildSecrets,
  takeBuildSecrets,
} from '../../../workers/build/build-secrets.ts';
import { createTestDatabase } from '../../support/postgres-server.ts';

const SECRET = Buffer.from('s3cr3t-token-value-for-the-aof-check');

describe('build secrets', () => {
  let dir: string;
  let server: EmbeddedRedis;
  let redis: Redis;
  let database: DatabaseHandle;
  let appId: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-build-secrets-'));
    server = await startEmbeddedRedis(dir);
    redis = connectRedis({ socketPath: server.socketPath });
    database = await openDatabase({ databaseUrl: await createTestDatabase(inject('postgresUrl'), 'build_secrets'), dataDir: dir });
    const [app] = await database.db.insert(apps).values({ name: 'web' }).returning();
    appId = app!.id;
  });

  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Seals secrets as the API does: the key in a new build row, the ciphertext in Redis. */
  async function queueBuildWith(secrets: Map<string, Buffer>): Promise<{ buildId: string; key: string }> {
    const { key, sealed } = sealBuildSecrets(secrets);
    const [build] = await database.db.insert(builds).values({ appId, contextDigest: 'sha256:00', contextSize: 0, secretsKey: key }).returning();
    await storeBuildSecrets(redis, build!.id, sealed);
    return { buildId: build!.id, key };
  }

  async function keyInRow(buildId: string): Promise<string | null> {
    const [row] = await database.db.select({ key: builds.secretsKey }).from(builds).where(eq(builds.id, buildId));
    return row!.key;
  }

  it('hands the secrets to the worker once, then neither store has them', async () => {
    const { buildId, key } = await queueBuildWith(new Map([['token', Buffer.from([0, 1, 2, 255])]]));

    const secrets = await takeBuildSecrets(redis, database.db, buildId, key);

    expect(secrets).toEqual(new Map([['token', Buffer.from([0, 1, 2, 255])]]));
    expect(await redis.exists(buildSecretsKey(buildId))).toBe(0);
    expect(await keyInRow(buildId)).toBeNull();
  });

  it("keeps only ciphertext in Redis's append-only file", async () => {
    await queueBuildWith(new Map([['token', SECRET]]));

    const folder = path.join(dir, 'appendonlydir');
    const files = await readdir(folder);
    const contents = Buffer.concat(await Promise.all(files.map((file) => readFile(path.join(folder, file)))));
    expect(contents.includes(Buffer.from('build-secrets:'))).toBe(true);
    expect(contents.includes(SECRET)).toBe(false);
    expect(contents.includes(Buffer.from(SECRET.toString('base64')))).toBe(false);
  });

  it('fails with BUILD_SECRETS_EXPIRED when Redis lost them, and clears the key', async () => {
    const { buildId, key } = await queueBuildWith(new Map([['token', SECRET]]));
    await redis.del(buildSecretsKey(buildId));

    await expect(takeBuildSecrets(redis, database.db, buildId, key)).rejects.toMatchObject({ code: 'BUILD_SECRETS_EXPIRED' });
    expect(await keyInRow(buildId)).toBeNull();
  });

  it('rejects sealed secrets opened with another key', () => {
    const { sealed } = sealBuildSecrets(new Map([['token', SECRET]]));

    expect(() => openBuildSecrets(sealed, sealBuildSecrets(new Map()).key)).toThrow(expect.objectContaining({ code: 'BUILD_SECRETS_UNREADABLE' }));
  });

  it('lets secrets of a build that never starts expire', async () => {
    const { buildId } = await queueBuildWith(new Map([['a', Buffer.from('x')]]));

    const ttl = await redis.ttl(buildSecretsKey(buildId));

    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(BUILD_SECRETS_TTL_SECONDS);
  });

  it('removes both halves when a build ends without taking them', async () => {
    const { buildId } = await queueBuildWith(new Map([['a', Buffer.from('x')]]));

    await dropBuildSecrets(redis, database.db, buildId);

    expect(await redis.exists(buildSecretsKey(buildId))).toBe(0);
    expect(await keyInRow(buildId)).toBeNull();
  });

  it('gives an empty map for a build without secrets', async () => {
    const [build] = await database.db.insert(builds).values({ appId, contextDigest: 'sha256:00', contextSize: 0 }).returning();

    expect(await takeBuildSecrets(redis, database.db, build!.id, null)).toEqual(new Map());
  });
});
