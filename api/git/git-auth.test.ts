import { describe, expect, it } from 'vitest';
import { tokenFromHeader } from './git-auth.ts';

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

describe('tokenFromHeader', () => {
  it.each([
    ['basic auth with any user', basic('anyone:swt_abc'), 'swt_abc'],
    ['basic auth with an empty user', basic(':swt_abc'), 'swt_abc'],
    ['a password that contains a colon', basic('user:swt_a:b'), 'swt_a:b'],
    ['a bearer token', 'Bearer swt_abc', 'swt_abc'],
    ['a lowercase scheme', 'bearer swt_abc', 'swt_abc'],
  ])('reads %s', (_case, header, token) => {
    expect(tokenFromHeader(header)).toBe(token);
  });

  it.each([
    ['no header', undefined],
    ['basic auth without a colon', basic('swt_abc')],
    ['an empty password', basic('user:')],
    ['another scheme', 'Digest username="x"'],
  ])('returns null for %s', (_case, header) => {
    expect(tokenFromHeader(header)).toBeNull();
  });
});
