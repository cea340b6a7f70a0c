import { describe, expect, it } from 'vitest';
import { paginate } from './list-handlers.ts';

const TAGS = ['a', 'b', 'c', 'd', 'e'];

describe('paginate', () => {
  it.each([
    [undefined, undefined, { entries: TAGS }],
    ['2', undefined, { entries: ['a', 'b'], next: 'b' }],
    ['2', 'b', { entries: ['c', 'd'], next: 'd' }],
    ['2', 'd', { entries: ['e'] }],
    ['10', 'bb', { entries: ['c', 'd', 'e'] }],
    ['0', undefined, { entries: [] }],
    [undefined, 'e', { entries: [] }],
  ])('n=%s last=%s', (n, last, expected) => {
    expect(paginate(TAGS, n, last)).toEqual(expected);
  });

  it.each(['-1', 'two', '1.5', '100000'])('rejects n=%s', (n) => {
    expect(() => paginate(TAGS, n, undefined)).toThrow(/n=/);
  });
});
