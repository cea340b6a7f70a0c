/**
 * Reads the password of HTTP basic credentials from an Authorization header, or null for
 * another scheme or a malformed value. Git and registry clients send any user name with
 * an API token as the password.
 */
export function readBasicPassword(header: string | undefined): string | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!match) return null;

  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}
