import type { MiddlewareHandler } from 'hono';
import { SlipwayError } from '../../shared/errors.ts';
import type { Database } from '../../shared/db/database.ts';
import { verifyApiToken } from '../auth/api-tokens.ts';

export class UnauthorizedError extends SlipwayError {
  constructor(message: string) {
    super('UNAUTHORIZED', message, { kind: 'user', status: 401 });
  }
}

/** Accepts `Authorization: Bearer <token>` and answers 401 for a missing or unknown token. */
export function requireToken(db: Database): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (!header) {
      c.header('WWW-Authenticate', 'Bearer realm="slipway"');
      throw new UnauthorizedError('Missing API token: send "Authorization: Bearer <token>"; the admin token is in <data dir>/admin-token.');
    }

    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const tokenId = match?.[1] ? await verifyApiToken(db, match[1]) : null;
    if (!tokenId) {
      c.header('WWW-Authenticate', 'Bearer realm="slipway", error="invalid_token"');
      throw new UnauthorizedError('The API token is not valid: check SLIPWAY_TOKEN or <data dir>/admin-token.');
    }
    c.set('tokenId', tokenId);
    await next();
  };
}
