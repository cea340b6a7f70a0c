import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { count, eq } from 'drizzle-orm';
import { ADMIN_OWNER } from '../../shared/apps/owners.ts';
import type { Database } from '../../shared/db/database.ts';
import { apiTokens } from '../../shared/db/schema.ts';

export { ADMIN_OWNER };

/** Tokens look like `swt_<43 base64url characters>` (32 random bytes). */
const TOKEN_PREFIX = 'swt_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Creates a token that acts for `owner` (the admin account unless given) and returns it; only its hash is stored. */
export async function createApiToken(db: Database, name: string, owner: string = ADMIN_OWNER): Promise<string> {
  const token = generateToken();
  await db.insert(apiTokens).values({ name, tokenHash: hashToken(token), owner });
  return token;
}

/** Returns the id and owner of the token's row, or null when no stored token matches. */
export async function findApiToken(db: Database, token: string): Promise<{ id: string; owner: string } | null> {
  if (!token.startsWith(TOKEN_PREFIX)) return null;

  const rows = await db.select({ id: apiTokens.id, owner: apiTokens.owner }).from(apiTokens).where(eq(apiTokens.tokenHash, hashToken(token)));
  return rows[0] ?? null;
}

/**
 * Creates the admin token when the database has no token yet, and writes it once to
 * `<dataDir>/admin-token` with mode 0600. Returns the new token, or null when tokens
 * exist already: a token is shown only at its creation because only its hash is kept.
 */
export async function bootstrapAdminToken(db: Database, dataDir: string): Promise<string | null> {
  const [existing] = await db.select({ total: count() }).from(apiTokens);
  if ((existing?.total ?? 0) > 0) return null;

  const token = await createApiToken(db, 'admin');
  await writeFile(adminTokenPath(dataDir), `${token}\n`, { mode: 0o600, flag: 'w' });
  return token;
}

export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}
