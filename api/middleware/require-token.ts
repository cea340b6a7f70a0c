import type { MiddlewareHandler } from 'hono';
import { SlipwayError } from '../../shared/errors.ts';
import type { Database } from '../../shared/db/database.ts';
import { findApiToken } from '../auth/api-tokens.ts';

export class UnauthorizedError extends SlipwayError {
  constructor(message: string) {
    super('UNAUTHORIZED', message, { kind: 'user', status: 401 });
  }
}

/** Accepts `Authorization: Bearer <token>`, sets the token's id and owner, and rejects a missing or unknown token with 401. */
export function requireToken(db: Database): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) {
      c.header('WWW-Authenticate', 'Bearer realm="slipway"');
      throw new UnauthorizedError('Missing API token: send "Authorization: Bearer <token>"; the admin token is in <data dir>/admin-token.');
    }

    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const found = match?.[1] ? await findApiToken(db, match[1]) : null;
    if (!found) {
      c.header('WWW-Authenticate', 'Bearer realm="slipway", error="invalid_token"');
      throw new UnauthorizedError('The API token is not valid: check SLIPWAY_TOKEN or <data dir>/admin-token.');
    }
    c.set('tokenId', found.id);
    c.set('owner', found.owner);
    await next();
  };
}
