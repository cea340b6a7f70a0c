import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

describe('SLIPWAY_BUILD_FETCH_ALLOW', () => {
  it('allows nothing when unset', () => {
    expect(loadConfig({}).buildFetchAllow).toEqual(new Set());
  });

  it('reads host:port pairs, lowercased, with IPv6 hosts in brackets', () => {
    const config = loadConfig({ SLIPWAY_BUILD_FETCH_ALLOW: '127.0.0.1:3142, Mirror.Local:80,[::1]:8080' });

    expect(config.buildFetchAllow).toEqual(new Set(['127.0.0.1:3142', 'mirror.local:80', '[::1]:8080']));
  });

  it.each(['127.0.0.1', 'http://127.0.0.1:3142', '127.0.0.1:0', '127.0.0.1:70000', '::1:80'])('rejects %j with the expected form', (value) => {
    expect(() => loadConfig({ SLIPWAY_BUILD_FETCH_ALLOW: value })).toThrow(/SLIPWAY_BUILD_FETCH_ALLOW contains .*host:port pairs/);
  });
});

describe('SLIPWAY_REGISTRY_MAX_BLOB_BYTES', () => {
  it('defaults to 10 GiB', () => {
    expect(loadConfig({}).registryMaxBlobBytes).toBe(10 * 1024 ** 3);
  });

  it.each(['0', '-1', '1.5', 'ten'])('rejects %j with the expected range', (value) => {
    expect(() => loadConfig({ SLIPWAY_REGISTRY_MAX_BLOB_BYTES: value })).toThrow(/SLIPWAY_REGISTRY_MAX_BLOB_BYTES=.* is invalid: set it to a whole number from 1024/);
  });
});
