import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type { Database } from '../../shared/db/database.ts';
import { builds } from '../../shared/db/schema.ts';
import { SystemError } from '../../shared/errors.ts';

/**
 * Build secrets travel from the API to the build worker split over two stores: Redis
 * holds them sealed with AES-256-GCM under a key of their own, and the build's row in
 * the database holds that key. The API seals them and writes both before it queues the
 * build; the worker takes the sealed secrets (read and delete in one transaction) when
 * the build starts, opens them with the key and clears the key from the row. So a Redis
 * with persistence (the embedded one writes an AOF file) keeps only ciphertext on its
 * disk, and once the build started no store holds the key any more.
 */

/** Secrets of a build that never starts expire after this long. */
export const BUILD_SECRETS_TTL_SECONDS = 24 * 3600;

const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface SealedSecrets {
  /** The AES key, hex, for the build's `secrets_key` column. */
  key: string;
  /** IV, authentication tag and ciphertext of the secrets, for Redis. */
  sealed: Buffer;
}

export function buildSecretsKey(buildId: string): string {
  return `build-secrets:${buildId}`;
}

/** Encrypts secrets under a new random key. */
export function sealBuildSecrets(secrets: ReadonlyMap<string, Buffer>): SealedSecrets {
  const key = randomBytes(32);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv);
  const plain = Buffer.from(JSON.stringify(Object.fromEntries([...secrets].map(([id, value]) => [id, value.toString('base64')]))));
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { key: key.toString('hex'), sealed: Buffer.concat([iv, cipher.getAuthTag(), ciphertext]) };
}

/** Decrypts what sealBuildSecrets made; fails with BUILD_SECRETS_UNREADABLE for a wrong key or altered bytes. */
export function openBuildSecrets(sealed: Buffer, key: string): Map<string, Buffer> {
  try {
    const decipher = createDecipheriv(CIPHER, Buffer.from(key, 'hex'), sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    const fields = JSON.parse(plain.toString('utf8')) as Record<string, string>;
    return new Map(Object.entries(fields).map(([id, value]) => [id, Buffer.from(value, 'base64')]));
  } catch (error) {
    throw new SystemError('BUILD_SECRETS_UNREADABLE', 'The build secrets could not be decrypted (wrong key or altered data): deploy again with the secrets.', {
      cause: error,
    });
  }
}

/** Stores a build's sealed secrets; call it before the build is queued. */
export async function storeBuildSecrets(redis: Redis, buildId: string, sealed: Buffer): Promise<void> {
  await redis.multi().set(buildSecretsKey(buildId), sealed).expire(buildSecretsKey(buildId), BUILD_SECRETS_TTL_SECONDS).exec();
}

/**
 * Reads and deletes a build's sealed secrets, opens them with `key` (the build row's
 * `secrets_key`) and clears that column. Returns an empty map for a build without secrets.
 * Fails with BUILD_SECRETS_EXPIRED when the build has a key but Redis no longer has the
 * secrets (they waited in the queue past the TTL, or Redis lost them).
 */
export async function takeBuildSecrets(redis: Redis, db: Database, buildId: string, key: string | null): Promise<Map<string, Buffer>> {
  const results = await redis.multi().getBuffer(buildSecretsKey(buildId)).del(buildSecretsKey(buildId)).exec();
  const [error, sealed] = (results?.[0] ?? [null, null]) as [Error | null, Buffer | null];
  if (error) throw error;
  if (key === null) return new Map();
  await db.update(builds).set({ secretsKey: null }).where(eq(builds.id, buildId));
  if (!sealed) {
    throw new SystemError('BUILD_SECRETS_EXPIRED', 'The build secrets were gone when the build started (they expire after a day in the queue): deploy again with the secrets.');
  }
  return openBuildSecrets(sealed, key);
}

/** Deletes a build's secrets and their key, for a build that ends without taking them. */
export async function dropBuildSecrets(redis: Redis, db: Database, buildId: string): Promise<void> {
  await redis.del(buildSecretsKey(buildId));
  await db.update(builds).set({ secretsKey: null }).where(eq(builds.id, buildId));
}
