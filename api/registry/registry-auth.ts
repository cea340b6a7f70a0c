import type { Context } from 'hono';
import type { Database } from '../../shared/db/database.ts';
import { findApiToken } from '../auth/api-tokens.ts';
import { readBasicPassword } from '../auth/basic-auth.ts';
import { RegistryError } from './registry-errors.ts';
import { formatScope, grants, REGISTRY_SERVICE, type AccessEntry, type RegistryTokenSigner } from './registry-tokens.ts';

/**
 * The sender of a request and the owner it acts for. An API token (by basic auth or
 * directly as a bearer token) may do every action, and a bearer token from `/v2/token`
 * may do what its access list grants. Either way it acts only on the owner's apps
 * (repositories.ts).
 */
export type RegistryPrincipal = { tokenId: string; owner: string; access: 'all' | AccessEntry[] };

export type CredentialsResult = RegistryPrincipal | 'missing' | 'invalid';

/** Checks a request's Authorization header against API tokens and the registry's own bearer tokens. */
export async function authenticate(db: Database, signer: RegistryTokenSigner, header: string | undefined): Promise<CredentialsResult> {
  if (!header) return 'missing';

  const password = readBasicPassword(header);
  if (password !== null) {
    const token = await findApiToken(db, password);
    return token ? { tokenId: token.id, owner: token.owner, access: 'all' } : 'invalid';
  }

  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (!bearer) return 'invalid';
  const apiToken = await findApiToken(db, bearer);
  if (apiToken) return { tokenId: apiToken.id, owner: apiToken.owner, access: 'all' };

  const verified = signer.verify(bearer);
  return verified ? { tokenId: verified.subject, owner: verified.owner, access: verified.access } : 'invalid';
}

export function isAllowed(principal: RegistryPrincipal, needed: AccessEntry): boolean {
  if (principal.access === 'all') return true;
  const access = principal.access;
  return needed.actions.every((action) => grants(access, needed.type, needed.name, action));
}

/**
 * Makes the 401 that starts Docker's token flow: the client fetches a token for `scope` from
 * the realm with its credentials and repeats the request with it. The realm is this
 * server's own `/v2/token`, at the address the client used; `X-Forwarded-Proto` keeps it
 * https behind a TLS proxy.
 */
export function challengeError(c: Context, needed: AccessEntry | null, reason: 'missing' | 'invalid' | 'insufficient_scope'): RegistryError {
  const url = new URL(c.req.url);
  const protocol = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() ?? url.protocol.replace(':', '');
  const host = c.req.header('host') ?? url.host;
  const parts = [`realm="${protocol}://${host}/v2/token"`, `service="${REGISTRY_SERVICE}"`];
  if (needed) parts.push(`scope="${formatScope(needed)}"`);
  if (reason === 'invalid') parts.push('error="invalid_token"');
  if (reason === 'insufficient_scope') parts.push('error="insufficient_scope"');

  const messages = {
    missing: 'Authentication required: log in with any user name and a Slipway API token as the password (the admin token is in <data dir>/admin-token).',
    invalid: 'The credentials are not valid: use a Slipway API token as the password, or fetch a new bearer token from /v2/token.',
    insufficient_scope: `The bearer token does not grant ${needed ? formatScope(needed) : 'this request'}: fetch a token for that scope from /v2/token.`,
  } as const;
  return new RegistryError('UNAUTHORIZED', messages[reason], {
    headers: { 'WWW-Authenticate': `Bearer ${parts.join(',')}` },
    detail: needed ? { scope: formatScope(needed) } : {},
  });
}
