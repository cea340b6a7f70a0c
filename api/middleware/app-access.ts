import type { MiddlewareHandler } from 'hono';
import { eq } from 'drizzle-orm';
import { AppNotFoundError } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { apps } from '../../shared/db/schema.ts';
import type { ApiEnv } from '../api-deps.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';

/**
 * Lets a token reach `/apps/:app` and everything below it only for apps of its own owner;
 * admin tokens reach every app. Another owner's app gets the same 404 as a missing one,
 * so a token cannot learn which names other owners use. Runs after requireToken.
 * Builds and deploys addressed by id check `mayReachOwner` on the app they belong to.
 */
export function requireAppAccess(db: Database): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const owner = c.get('owner');
    const name = c.req.param('app');
    if (owner === ADMIN_OWNER || !name) return next();

    const [app] = await db.select({ owner: apps.owner }).from(apps).where(eq(apps.name, name));
    if (app && !mayReachOwner(owner, app.owner)) throw new AppNotFoundError(name);
    return next();
  };
}

/** Checks whether a request acting for `requestOwner` may see what belongs to `resourceOwner`. */
export function mayReachOwner(requestOwner: string, resourceOwner: string): boolean {
  return requestOwner === ADMIN_OWNER || requestOwner === resourceOwner;
}
