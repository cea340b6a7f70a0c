import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { FetchGuard, hostAddressKind } from './fetch-guard.ts';

describe('hostAddressKind', () => {
  it.each([
    ['127.0.0.1', 'a loopback address'],
    ['127.8.9.10', 'a loopback address'],
    ['::1', 'a loopback address'],
    ['::ffff:127.0.0.1', 'a loopback address'],
    ['169.254.7.7', 'a link-local address'],
    ['fe80::1', 'a link-local address'],
    ['0.0.0.0', 'the unspecified address'],
    ['::', 'the unspecified address'],
  ])('names %s as %s', (address, kind) => {
    expect(hostAddressKind(address)).toBe(kind);
  });

  it("names every address of the host's interfaces", () => {
    const addresses = Object.values(networkInterfaces())
      .flatMap((entries) => entries ?? [])
      .map((entry) => entry.address)
      .filter((address) => !address.startsWith('127.') && address !== '::1' && !address.toLowerCase().startsWith('fe80'));
    expect(addresses.length).toBeGreaterThan(0);

    for (const address of addresses) expect(hostAddressKind(address)).toBe('an address of an interface');
  });

  it.each(['192.0.2.10', '2001:db8::10', '10.255.255.254'])('leaves %s, not an address of this host, alone', (address) => {
    expect(hostAddressKind(address)).toBeNull();
  });
});

describe('FetchGuard', () => {
  it('rejects a loopback address with the pair to allow', async () => {
    const guard = new FetchGuard(new Set());

    await expect(guard.check('http://127.0.0.1:3142/x', '127.0.0.1', 3142)).rejects.toMatchObject({
      code: 'ADD_SOURCE_FORBIDDEN',
      message: expect.stringContaining('SLIPWAY_BUILD_FETCH_ALLOW=127.0.0.1:3142'),
    });
  });

  it('writes an IPv6 pair in brackets', async () => {
    const guard = new FetchGuard(new Set());

    await expect(guard.check('http://[::1]:3142/x', '[::1]', 3142)).rejects.toMatchObject({ message: expect.stringContaining('=[::1]:3142') });
  });

  it('lets an allowed pair through, and only on its port', async () => {
    const guard = new FetchGuard(new Set(['127.0.0.1:3142']));

    await expect(guard.check('http://127.0.0.1:3142/x', '127.0.0.1', 3142)).resolves.toEqual([]);
    await expect(guard.check('http://127.0.0.1:3143/x', '127.0.0.1', 3143)).rejects.toMatchObject({ code: 'ADD_SOURCE_FORBIDDEN' });
  });
});
