import { describe, expect, it } from 'vitest';
import { gitProtocolEnvironment, pktLine, wantsProtocolV2 } from './git-service.ts';

describe('pktLine', () => {
  it('prefixes the length in four hex digits, counting itself', () => {
    expect(pktLine('# service=git-upload-pack\n')).toBe('001e# service=git-upload-pack\n');
  });

  it('counts bytes, not characters', () => {
    expect(pktLine('é\n')).toBe('0007é\n');
  });
});

describe('git protocol header', () => {
  it.each([
    ['version=2', true],
    ['version=2:object-format=sha1', true],
    ['version=1', false],
    [undefined, false],
  ])('reads %j as protocol v2: %s', (header, expected) => {
    expect(wantsProtocolV2(header)).toBe(expected);
  });

  it('passes a well-formed header to git', () => {
    expect(gitProtocolEnvironment('version=2')).toEqual({ GIT_PROTOCOL: 'version=2' });
  });

  it('drops a header with characters git does not use', () => {
    expect(gitProtocolEnvironment('version=2; rm -rf /')).toEqual({});
  });
});
