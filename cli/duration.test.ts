import { describe, expect, it } from 'vitest';
import { parseDurationSeconds, parseWholeNumber } from './duration.ts';

describe('parseDurationSeconds', () => {
  it.each([
    ['300', 300],
    ['90s', 90],
    ['5m', 300],
    ['1h30m', 5400],
    ['1d', 86_400],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDurationSeconds(text, '--idle-timeout')).toBe(seconds);
  });

  it.each(['soon', '5 m', '1.5h', ''])('rejects %j, naming the option', (text) => {
    expect(() => parseDurationSeconds(text, '--idle-timeout')).toThrow(/^--idle-timeout ".*" is invalid/);
  });
});

describe('parseWholeNumber', () => {
  it('reads a number at or above the minimum', () => {
    expect(parseWholeNumber('3', '--max', 1)).toBe(3);
  });

  it.each(['0', '-1', '2.5', 'x'])('rejects %j below the minimum or not whole', (text) => {
    expect(() => parseWholeNumber(text, '--max', 1)).toThrow(/--max/);
  });
});
