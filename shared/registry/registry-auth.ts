import { ValidationError } from '../errors.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface AuthChallenge {
  /** Lowercase scheme: `bearer` or `basic`. */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header such as
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
 * Returns null when the header is missing or has no scheme.
 */
export function parseAuthChallenge(header: string | null): AuthChallenge | null {
  const match = header?.trim().match(/^([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s);
  if (!match) return null;

  const params: Record<string, string> = {};
  for (const param of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const key = (param[1] ?? '').toLowerCase();
    params[key] = param[2] === undefined ? (param[3] ?? '') : param[2].replace(/\\(.)/g, '$1');
  }
  return { scheme: (match[1] ?? '').toLowerCase(), params };
}

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * Builds the token request of the distribution spec's token authentication:
 * `GET <realm>?service=<service>&scope=<scope>`. The challenge's own scope wins over
 * `defaultScope`, because a registry names the scope it wants.
 */
export function tokenRequestUrl(challenge: AuthChallenge, defaultScope: string): URL {
  const realm = challenge.params.realm;
  if (!realm) {
    throw new ValidationError('REGISTRY_AUTH_INVALID', 'The registry sent a Bearer challenge without a realm, so no token can be requested.');
  }

  let url: URL;
  try {
    url = new URL(realm);
  } catch (error) {
    throw new ValidationError('REGISTRY_AUTH_INVALID', `The registry's token realm ${JSON.stringify(realm)} is not a valid URL.`, { cause: error });
  }
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  url.searchParams.set('scope', challenge.params.scope || defaultScope);
  return url;
}

/** Reads the token from a token server's JSON response (`token`, or `access_token` as OAuth servers write it). */
export function tokenFromResponse(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const fields = body as Record<string, unknown>;
  const token = typeof fields.token === 'string' && fields.token !== '' ? fields.token : fields.access_token;
  return typeof token === 'string' && token !== '' ? token : null;
}
