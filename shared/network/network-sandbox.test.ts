import { describe, expect, it } from 'vitest';
import { MAX_INTERFACE_NAME, hostVethNameFor, macAddressFor, netnsNameFor } from './network-sandbox.ts';

describe('sandbox names', () => {
  it('fits the host veth name in the interface name limit', () => {
    const name = hostVethNameFor('slipway0', `a-very-long-container-id-${'x'.repeat(150)}`);

    expect(name.length).toBeLessThanOrEqual(MAX_INTERFACE_NAME);
    expect(name).toMatch(/^vsw[0-9a-f]{12}$/);
  });

  it('gives different sandboxes and bridges different veth names', () => {
    const names = new Set([hostVethNameFor('slipway0', 'a'), hostVethNameFor('slipway0', 'b'), hostVethNameFor('other0', 'a')]);

    expect(names.size).toBe(3);
  });

  it('prefixes namespaces with the bridge name', () => {
    expect(netnsNameFor('slipway0', 'build-42')).toBe('slipway0-build-42');
  });

  it('derives a locally administered MAC from the address', () => {
    expect(macAddressFor('10.209.1.254')).toBe('02:73:0a:d1:01:fe');
  });
});
