import { describe, expect, it } from 'vitest';
import { parseSince } from './app-log-routes.ts';

const NOW = Date.parse('2024-05-01T12:00:00Z');

describe('parseSince', () => {
  it.each([
    ['90s', NOW - 90_000],
    ['10m', NOW - 600_000],
    ['1h30m', NOW - 5_400_000],
    ['2d', NOW - 172_800_000],
    ['500ms', NOW - 500],
    ['2024-05-01T10:00:00Z', Date.parse('2024-05-01T10:00:00Z')],
    ['2024-05-01T10:00:00.250+02:00', Date.parse('2024-05-01T08:00:00.250Z')],
    ['1714557600', Date.parse('2024-05-01T10:00:00Z')],
  ])('reads %j', (raw, expected) => {
    expect(parseSince(raw, NOW)).toBe(expected);
  });

  it('leaves an absent value unset', () => {
    expect(parseSince(undefined, NOW)).toBeUndefined();
  });

  it.each(['yesterday', '10 minutes', '-5m', '2024-13-45'])('rejects %j with a fix', (raw) => {
    expect(() => parseSince(raw, NOW)).toThrow(/give a duration such as 10m/);
  });
});
