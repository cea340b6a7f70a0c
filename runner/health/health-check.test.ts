import { describe, expect, it } from 'vitest';
import { DEFAULT_START_INTERVAL_MS, DOCKER_HEALTHCHECK_DEFAULTS, resolveHealthCheck } from './health-check.ts';

const SECOND_NS = 1e9;

describe('resolveHealthCheck', () => {
  it('prefers the app setting over the image HEALTHCHECK', () => {
    const check = resolveHealthCheck({ type: 'http', path: '/up', intervalS: 5, timeoutS: 2, retries: 4, startPeriodS: 10 }, { Test: ['CMD', 'true'] });
    expect(check).toEqual({
      probe: { kind: 'http', path: '/up' },
      source: 'app',
      intervalMs: 5000,
      startIntervalMs: DEFAULT_START_INTERVAL_MS,
      timeoutMs: 2000,
      retries: 4,
      startPeriodMs: 10_000,
    });
  });

  it('checks / when an HTTP setting has no path', () => {
    expect(resolveHealthCheck({ type: 'http', intervalS: 1, timeoutS: 1, retries: 1 }, undefined).probe).toEqual({ kind: 'http', path: '/' });
  });

  it.each([
    [['CMD', 'curl', '-f', 'http://localhost/'], ['curl', '-f', 'http://localhost/']],
    [['CMD-SHELL', 'test -f /ready'], ['/bin/sh', '-c', 'test -f /ready']],
  ])('runs the image test %j as %j', (test, command) => {
    expect(resolveHealthCheck(null, { Test: test }).probe).toEqual({ kind: 'exec', command });
  });

  it("takes the image's durations, which are nanoseconds", () => {
    const check = resolveHealthCheck(null, { Test: ['CMD', 'true'], Interval: 2 * SECOND_NS, Timeout: 3 * SECOND_NS, StartPeriod: 4 * SECOND_NS, StartInterval: SECOND_NS, Retries: 5 });
    expect(check).toMatchObject({ source: 'image', intervalMs: 2000, timeoutMs: 3000, startPeriodMs: 4000, startIntervalMs: 1000, retries: 5 });
  });

  it("uses Docker's defaults for durations the image leaves at 0", () => {
    const check = resolveHealthCheck(null, { Test: ['CMD', 'true'], Interval: 0 });
    expect(check).toMatchObject({ ...DOCKER_HEALTHCHECK_DEFAULTS, startIntervalMs: DEFAULT_START_INTERVAL_MS });
  });

  it.each([[undefined], [{ Test: ['NONE'] }], [{ Test: [] }], [{ Test: ['CMD'] }]])('falls back to a port check for %j', (imageCheck) => {
    expect(resolveHealthCheck(null, imageCheck)).toMatchObject({ source: 'default', probe: { kind: 'tcp' } });
  });
});
