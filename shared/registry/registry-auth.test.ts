import { describe, expect, it } from 'vitest';
import { basicAuthorization, parseAuthChallenge, tokenFromResponse, tokenRequestUrl } from './registry-auth.ts';

describe('parseAuthChallenge', () => {
  it('reads a bearer challenge with quoted parameters', () => {
    const challenge = parseAuthChallenge('Bearer realm="http://127.0.0.1:5001/token",service="test registry",scope="repository:a/b:pull,push"');

    expect(challenge).toEqual({
      scheme: 'bearer',
      params: { realm: 'http://127.0.0.1:5001/token', service: 'test registry', scope: 'repository:a/b:pull,push' },
    });
  });

  it('reads a basic challenge with an unquoted realm', () => {
    expect(parseAuthChallenge('Basic realm=registry')).toEqual({ scheme: 'basic', params: { realm: 'registry' } });
  });

  it('unescapes quoted characters', () => {
    expect(parseAuthChallenge('Bearer realm="a\\"b"')?.params.realm).toBe('a"b');
  });

  it.each([null, '', '   '])('returns null for %j', (header) => {
    expect(parseAuthChallenge(header)).toBeNull();
  });
});

describe('tokenRequestUrl', () => {
  it('adds the service and the challenge scope', () => {
    const url = tokenRequestUrl({ scheme: 'bearer', params: { realm: 'http://127.0.0.1:5001/token', service: 'svc', scope: 'repository:x:pull' } }, 'repository:y:pull');

    expect(url.searchParams.get('service')).toBe('svc');
    expect(url.searchParams.get('scope')).toBe('repository:x:pull');
  });

  it('uses the default scope when the challenge has none', () => {
    const url = tokenRequestUrl({ scheme: 'bearer', params: { realm: 'http://127.0.0.1:5001/token' } }, 'repository:y:pull');

    expect(url.searchParams.get('scope')).toBe('repository:y:pull');
  });

  it('rejects a challenge without a realm', () => {
    expect(() => tokenRequestUrl({ scheme: 'bearer', params: {} }, 'repository:y:pull')).toThrow(expect.objectContaining({ code: 'REGISTRY_AUTH_INVALID' }));
  });
});

describe('tokenFromResponse', () => {
  it.each([
    [{ token: 'abc' }, 'abc'],
    [{ access_token: 'def' }, 'def'],
    [{ token: '', access_token: 'ghi' }, 'ghi'],
    [{}, null],
    ['text', null],
  ])('reads %j as %j', (body, expected) => {
    expect(tokenFromResponse(body)).toBe(expected);
  });
});

describe('basicAuthorization', () => {
  it('encodes user and password as RFC 7617 basic credentials', () => {
    expect(basicAuthorization({ username: 'user', password: 'p:ss' })).toBe(`Basic ${Buffer.from('user:p:ss').toString('base64')}`);
  });
});
