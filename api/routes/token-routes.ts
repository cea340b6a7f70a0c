import { Hono } from 'hono';
import { z } from 'zod';
import { SlipwayError, ValidationError } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { ADMIN_OWNER, createApiToken } from '../auth/api-tokens.ts';
import { parseJsonBody } from '../request-body.ts';

/** Owner names are DNS labels, as app names are, so they fit in logs, paths and hosts files. */
const OWNER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const tokenBody = z.object({ owner: z.string(), name: z.string().min(1).max(100).optional() }).strict();

/**
 * `POST /v1/tokens {"owner", "name"}`: an admin token makes a token for an owner (a new
 * one or an existing one). The owner's apps get a private network of their own, and the
 * token reaches only that owner's apps. The token is returned once; only its hash is kept.
 */
export function tokenRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  routes.post('/', async (c) => {
    if (c.get('owner') !== ADMIN_OWNER) {
      throw new SlipwayError('ADMIN_ONLY', 'Only an admin token can create tokens: use the token in <data dir>/admin-token.', { status: 403 });
    }
    const body = await parseJsonBody(c, tokenBody);
    if (!OWNER_NAME.test(body.owner)) {
      throw new ValidationError(
        'OWNER_NAME_INVALID',
        `Owner ${JSON.stringify(body.owner)} is invalid: use 1-63 lowercase letters, digits and "-", starting and ending with a letter or digit.`,
        { details: { owner: body.owner } },
      );
    }

    const name = body.name ?? body.owner;
    const token = await createApiToken(deps.db, name, body.owner);
    deps.log.info({ owner: body.owner, tokenName: name }, 'api token created');
    return c.json({ token, owner: body.owner, name }, 201);
  });

  return routes;
}
