import { describe, expect, it } from 'vitest';
import { parseRange } from './blob-handlers.ts';

describe('parseRange', () => {
  it.each([
    [undefined, 100, null],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=95-200', 100, { start: 95, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
  ])('reads %s of %i bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });

  it.each(['bytes=100-', 'bytes=10-5', 'bytes=0-1,5-6', 'items=0-1', 'bytes=-0', 'bytes=-'])('rejects %s with 416', (header) => {
    expect(() => parseRange(header, 100)).toThrow(expect.objectContaining({ status: 416 }));
  });
});
