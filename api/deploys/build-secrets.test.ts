import { describe, expect, it } from 'vitest';
import { isSlipwayError } from '../../shared/errors.ts';
import { parseBuildSecrets } from './build-secrets.ts';

const base64 = (text: string) => Buffer.from(text).toString('base64');

function secretsOf(header: string | null): Record<string, string> {
  const headers = new Headers(header === null ? {} : { 'slipway-build-secret': header });
  return Object.fromEntries([...parseBuildSecrets(headers)].map(([id, value]) => [id, value.toString('utf8')]));
}

function rejection(header: string): string {
  try {
    secretsOf(header);
  } catch (error) {
    if (isSlipwayError(error) && error.code === 'BUILD_SECRET_INVALID') return error.message;
    throw error;
  }
  throw new Error('expected the header to be rejected');
}

describe('parseBuildSecrets', () => {
  it.each([
    ['no header', null, {}],
    ['one secret', `npm_token=${base64('s3cr3t')}`, { npm_token: 's3cr3t' }],
    ['several secrets in one header', `a=${base64('one')}, b.key=${base64('two\n')}`, { a: 'one', 'b.key': 'two\n' }],
    ['binary-safe values', `key=${Buffer.from([0, 255, 10]).toString('base64')}`, { key: '\u0000\ufffd\n' }],
  ])('reads %s', (_name, header, expected) => {
    expect(secretsOf(header)).toEqual(expected);
  });

  it('reads the header that fetch joins from repeated ones', () => {
    const headers = new Headers();
    headers.append('Slipway-Build-Secret', `a=${base64('one')}`);
    headers.append('Slipway-Build-Secret', `b=${base64('two')}`);

    expect([...parseBuildSecrets(headers).keys()]).toEqual(['a', 'b']);
  });

  it.each([
    ['an id with a slash', `../x=${base64('v')}`, /secret id "..\/x" is invalid/],
    ['a value that is not base64', 'token=not base64!', /value of secret token is not base64/],
    ['a pair without a value', 'token', /value of secret token is not base64/],
    ['an id given twice', `a=${base64('1')},a=${base64('2')}`, /secret a is given twice/],
    ['values over the size limit', `big=${base64('x'.repeat(13 * 1024))}`, /larger than 12288 bytes/],
  ])('rejects %s', (_name, header, message) => {
    expect(rejection(header)).toMatch(message);
  });

  it('never quotes a value in its message', () => {
    expect(rejection('token=sup3r-s3cret!')).not.toContain('sup3r-s3cret');
  });
});
