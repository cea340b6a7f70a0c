import type { AppRow } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { findApiToken } from '../auth/api-tokens.ts';
import { readBasicPassword } from '../auth/basic-auth.ts';
import { mayReachOwner } from '../middleware/app-access.ts';

/**
 * Reads the API token of a git request: HTTP basic auth with any user name and the token
 * as password (what git's credential helpers store), or `Authorization: Bearer <token>`.
 * Returns the token's id and owner, or null when the request has no valid token.
 */
export async function authenticateGitRequest(db: Database, header: string | undefined): Promise<{ id: string; owner: string } | null> {
  const token = tokenFromHeader(header);
  return token ? findApiToken(db, token) : null;
}

/** Checks whether a token's owner may use an app's repository: its own apps, or every app for the admin. */
export function mayUseRepository(owner: string, app: AppRow): boolean {
  return mayReachOwner(owner, app.owner);
}

export function tokenFromHeader(header: string | undefined): string | null {
  if (!header) return null;

  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1]!;

  return readBasicPassword(header) || null;
}
