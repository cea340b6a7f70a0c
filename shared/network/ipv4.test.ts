import { describe, expect, it } from 'vitest';
import { ipv4InCidr, ipv4ToNumber, numberToIpv4, parseSubnet } from './ipv4.ts';

describe('parseSubnet', () => {
  it('derives the gateway and host range of a /16', () => {
    const subnet = parseSubnet('10.209.0.0/16');

    expect(subnet.gateway).toBe('10.209.0.1');
    expect(numberToIpv4(subnet.firstHost)).toBe('10.209.0.2');
    expect(numberToIpv4(subnet.lastHost)).toBe('10.209.255.254');
    expect(subnet.prefixLength).toBe(16);
  });

  it('derives the host range of a /29', () => {
    const subnet = parseSubnet('10.99.7.8/29');

    expect(subnet.gateway).toBe('10.99.7.9');
    expect(numberToIpv4(subnet.firstHost)).toBe('10.99.7.10');
    expect(numberToIpv4(subnet.lastHost)).toBe('10.99.7.14');
  });

  it.each([['10.209.0.0'], ['10.209.0.0/33'], ['10.209.0.0/30'], ['10.209.0.0/4'], ['300.1.1.0/24'], ['fd00::/64'], ['10.209.0.0/x']])(
    'rejects %j',
    (cidr) => {
      expect(() => parseSubnet(cidr)).toThrow(expect.objectContaining({ code: 'SUBNET_INVALID' }));
    },
  );

  it('rejects host bits and suggests the network address', () => {
    expect(() => parseSubnet('10.209.3.4/16')).toThrow(/10\.209\.0\.0\/16/);
  });
});

describe('ipv4 conversions', () => {
  it.each([['0.0.0.0', 0], ['10.209.0.1', 181469185], ['255.255.255.255', 4294967295]])('converts %s', (address, value) => {
    expect(ipv4ToNumber(address)).toBe(value);
    expect(numberToIpv4(value)).toBe(address);
  });

  it.each([
    ['169.254.169.254', '169.254.0.0/16', true],
    ['169.255.0.1', '169.254.0.0/16', false],
    ['127.0.0.53', '127.0.0.0/8', true],
    ['::1', '127.0.0.0/8', false],
  ])('checks whether %s is in %s', (address, cidr, expected) => {
    expect(ipv4InCidr(address, cidr)).toBe(expected);
  });
});
