import { describe, expect, it } from 'vitest';
import { parseGetfattrDump } from './tree-xattrs.ts';

describe('parseGetfattrDump', () => {
  it('reads base64 values and octal-escaped paths', () => {
    const dump = [
      '# file: bin/ping',
      'security.capability=0sAQAAAoAgAAAAAAAAAAAAAAAAAAA=',
      '',
      '# file: new\\012line/back\\134slash',
      'trusted.overlay.opaque=0seQ==',
      '',
      '# file: ü dir',
      'trusted.overlay.opaque=0seQ==',
      '',
    ].join('\n');

    const xattrs = parseGetfattrDump(dump);

    expect(xattrs.get('bin/ping')?.get('security.capability')).toEqual(Buffer.from('AQAAAoAgAAAAAAAAAAAAAAAAAAA=', 'base64'));
    expect(xattrs.get('new\nline/back\\slash')?.get('trusted.overlay.opaque')?.toString()).toBe('y');
    expect(xattrs.get('ü dir')?.get('trusted.overlay.opaque')?.toString()).toBe('y');
  });

  it('maps the root folder to the empty path', () => {
    expect([...parseGetfattrDump('# file: .\ntrusted.overlay.opaque=0seQ==\n').keys()]).toEqual(['']);
  });
});
