import type { Context } from 'hono';
import type { Database } from '../../shared/db/database.ts';
import type { Logger } from '../../shared/logger.ts';
import { findApiToken } from '../auth/api-tokens.ts';
import { readBasicPassword } from '../auth/basic-auth.ts';
import { RegistryError } from './registry-errors.ts';
import { parseScopes, type AccessEntry, type RegistryTokenSigner } from './registry-tokens.ts';

/** Actions this registry implements; a token never grants more. */
const REPOSITORY_ACTIONS = ['pull', 'push'];

/**
 * Docker's token endpoint: `GET /v2/token?service=…&scope=…` with basic credentials (any
 * user, an API token as password), or the OAuth2 form `POST /v2/token` with
 * `grant_type=password` that containerd sends. The token grants every requested scope
 * that the registry implements; what the token's owner may reach is checked per request.
 */
export async function handleTokenRequest(c: Context, deps: { db: Database; signer: RegistryTokenSigner; log: Logger }): Promise<Response> {
  const request = c.req.method === 'POST' ? await readOAuthForm(c) : { password: readBasicPassword(c.req.header('authorization')), scopes: c.req.queries('scope') ?? [] };
  if (request.password === null) {
    throw new RegistryError('UNAUTHORIZED', 'Send basic credentials: any user name and a Slipway API token as the password.', {
      headers: { 'WWW-Authenticate': 'Basic realm="slipway-registry"' },
    });
  }

  const apiToken = await findApiToken(deps.db, request.password);
  if (!apiToken) {
    throw new RegistryError('UNAUTHORIZED', 'The password is not a valid Slipway API token: check SLIPWAY_TOKEN or <data dir>/admin-token.', {
      headers: { 'WWW-Authenticate': 'Basic realm="slipway-registry"' },
    });
  }

  const access = grantedAccess(parseScopes(request.scopes));
  const issued = deps.signer.issue({ tokenId: apiToken.id, owner: apiToken.owner }, access);
  deps.log.info({ tokenId: apiToken.id, owner: apiToken.owner, scopes: access.length }, 'registry token issued');
  return c.json({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt });
}

async function readOAuthForm(c: Context): Promise<{ password: string | null; scopes: string[] }> {
  const form = new URLSearchParams(await c.req.text());
  if (form.get('grant_type') !== 'password') {
    // Refresh tokens are never issued, so `refresh_token` grants are rejected too.
    throw new RegistryError('UNSUPPORTED', `Grant type ${JSON.stringify(form.get('grant_type'))} is not supported: use grant_type=password with an API token as the password.`, {
      status: 400,
    });
  }
  return { password: form.get('password'), scopes: form.getAll('scope') };
}

function grantedAccess(requested: AccessEntry[]): AccessEntry[] {
  const granted: AccessEntry[] = [];
  for (const entry of requested) {
    if (entry.type === 'registry' && entry.name === 'catalog') {
      granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
      continue;
    }
    if (entry.type !== 'repository') continue;
    const actions = entry.actions.includes('*') ? REPOSITORY_ACTIONS : entry.actions.filter((action) => REPOSITORY_ACTIONS.includes(action));
    if (actions.length > 0) granted.push({ type: 'repository', name: entry.name, actions });
  }
  return granted;
}
