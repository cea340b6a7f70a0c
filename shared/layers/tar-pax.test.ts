import { describe, expect, it } from 'vitest';
import { decodePaxRecords, encodePaxRecords } from './tar-pax.ts';

describe('PAX records', () => {
  it('round-trips binary values byte for byte', () => {
    const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x20, 0xff, 0x0a, 0x3d]);
    const records = new Map([
      ['path', Buffer.from('usr/share/ünïcode')],
      ['SCHILY.xattr.security.capability', capability],
    ]);

    expect(decodePaxRecords(encodePaxRecords(records))).toEqual(records);
  });

  it('counts the length digits in the record length', () => {
    // " path=" + 92 bytes + "\n" is 99 bytes; with its length the record is 102, three digits.
    const encoded = encodePaxRecords(new Map([['path', Buffer.from('a'.repeat(92))]]));

    expect(encoded.toString('utf8').startsWith('102 path=')).toBe(true);
    expect(encoded.length).toBe(102);
  });
});
