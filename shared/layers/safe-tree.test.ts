import { describe, expect, it } from 'vitest';
import { cleanEntryPath } from './safe-tree.ts';

describe('cleanEntryPath', () => {
  it.each([
    ['etc/passwd', 'etc/passwd'],
    ['/etc/passwd', 'etc/passwd'],
    ['./etc/./passwd', 'etc/passwd'],
    ['etc/sub/../passwd', 'etc/passwd'],
    ['usr/lib/', 'usr/lib'],
    ['./', ''],
    ['/', ''],
    ['//etc//passwd', 'etc/passwd'],
  ])('cleans %j to %j', (name, expected) => {
    expect(cleanEntryPath(name)).toBe(expected);
  });

  it.each(['../x', '..', 'a/../../x', '/../etc/passwd', 'a/\0b'])('rejects %j', (name) => {
    expect(() => cleanEntryPath(name)).toThrow(expect.objectContaining({ code: 'LAYER_ENTRY_UNSAFE' }));
  });
});
