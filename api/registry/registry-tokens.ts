import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The `service` of this registry's bearer challenge; tokens are issued for it alone. */
export const REGISTRY_SERVICE = 'slipway-registry';
/** Lifetime of a bearer token in seconds; clients fetch a new one when it runs out. */
export const TOKEN_LIFETIME_S = 300;
/** Clock difference between API hosts that `nbf` and `exp` tolerate, in seconds. */
const CLOCK_SKEW_S = 30;

/** One entry of a token's access list, as Docker's token spec writes it. */
export interface AccessEntry {
  /** `repository` or `registry` (for `registry:catalog:*`). */
  type: string;
  name: string;
  actions: string[];
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

/** Whom a bearer token is issued for: an API token and the owner it acts for. */
export interface TokenSubject {
  tokenId: string;
  owner: string;
}

export interface VerifiedToken {
  /** The id of the API token the bearer token was issued for. */
  subject: string;
  owner: string;
  access: AccessEntry[];
}

/**
 * Parses `scope` values such as `repository:app:pull,push`. One value may hold several
 * scopes separated by spaces (the OAuth2 form). The type ends at the first colon and the
 * actions start after the last one, so a name may itself contain a colon.
 */
export function parseScopes(values: string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const scope of values.flatMap((value) => value.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const actions = scope.slice(last + 1).split(',').filter(Boolean);
    entries.push({ type: scope.slice(0, first), name: scope.slice(first + 1, last), actions });
  }
  return entries;
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

/** Checks whether an access list grants `action` on `type:name`; `*` grants every action. */
export function grants(access: AccessEntry[], type: string, name: string, action: string): boolean {
  return access.some((entry) => entry.type === type && entry.name === name && (entry.actions.includes(action) || entry.actions.includes('*')));
}

/**
 * Issues and checks the registry's bearer tokens: JWTs signed with HMAC-SHA256 under a
 * secret kept in the data folder (mode 0600), made at first start.
 */
export class RegistryTokenSigner {
  private constructor(private readonly secret: Buffer) {}

  /** Loads the signing secret from `<dataDir>/registry-token-key`, creating it when absent. */
  static async open(dataDir: string): Promise<RegistryTokenSigner> {
    return new RegistryTokenSigner(await loadOrCreateSecret(path.join(dataDir, 'registry-token-key')));
  }

  issue(subject: TokenSubject, access: AccessEntry[], nowMs = Date.now()): IssuedToken {
    const now = Math.floor(nowMs / 1000);
    const header = { alg: 'HS256', typ: 'JWT' };
    const claims = { iss: REGISTRY_SERVICE, sub: subject.tokenId, owner: subject.owner, aud: REGISTRY_SERVICE, iat: now, nbf: now, exp: now + TOKEN_LIFETIME_S, jti: randomUUID(), access };
    const unsigned = `${encodePart(header)}.${encodePart(claims)}`;
    return { token: `${unsigned}.${this.sign(unsigned)}`, expiresIn: TOKEN_LIFETIME_S, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** Returns the token's subject, owner and access, or null for a token that is malformed, forged, expired, for another service or without an owner. */
  verify(token: string, nowMs = Date.now()): VerifiedToken | null {
    const parts = token.split('.');
    if (parts.length !== 3) return null;
    const [header, claims, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(`${header}.${claims}`));
    const received = Buffer.from(signature);
    if (received.length !== expected.length || !timingSafeEqual(received, expected)) return null;

    const payload = decodePart(claims);
    const now = Math.floor(nowMs / 1000);
    if (!payload || payload.aud !== REGISTRY_SERVICE || typeof payload.sub !== 'string' || typeof payload.owner !== 'string') return null;
    if (typeof payload.exp !== 'number' || payload.exp + CLOCK_SKEW_S <= now) return null;
    if (typeof payload.nbf === 'number' && payload.nbf - CLOCK_SKEW_S > now) return null;
    return { subject: payload.sub, owner: payload.owner, access: Array.isArray(payload.access) ? (payload.access as AccessEntry[]) : [] };
  }

  private sign(unsigned: string): string {
    return createHmac('sha256', this.secret).update(unsigned).digest('base64url');
  }
}

function encodePart(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decodePart(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Reads the secret, or writes a new one. The new secret is written to a temporary file and
 * hard-linked into place, so two processes starting at once agree on one secret and
 * neither reads a half-written file.
 */
async function loadOrCreateSecret(file: string): Promise<Buffer> {
  // TODO: several API hosts need the same secret. Today each data folder has its own, so a
  // token issued by one host is rejected by another.
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomUUID()}`;
  try {
    await writeFile(temporary, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    await link(temporary, file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temporary, { force: true });
  }
  return Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
}
