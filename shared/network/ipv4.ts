import { isIPv4 } from 'node:net';
import { ValidationError } from '../errors.ts';

/** An IPv4 subnet in CIDR form, with the addresses Slipway gives out in it. */
export interface Ipv4Subnet {
  cidr: string;
  prefixLength: number;
  /** The network address as a 32-bit unsigned number. */
  network: number;
  /** The first host address, which the bridge takes as the containers' gateway. */
  gateway: string;
  /** The first and last addresses containers may get: after the gateway, before broadcast. */
  firstHost: number;
  lastHost: number;
}

/**
 * Parses a CIDR subnet such as 10.209.0.0/16. The prefix must leave room for the gateway and
 * at least two containers (/8 to /29), and the host bits of the address must be zero.
 */
export function parseSubnet(cidr: string): Ipv4Subnet {
  const [address, prefixText] = cidr.split('/');
  const prefixLength = Number(prefixText);
  if (!address || !isIPv4(address) || !/^[0-9]+$/.test(prefixText ?? '') || prefixLength < 8 || prefixLength > 29) {
    throw new ValidationError('SUBNET_INVALID', `Subnet ${JSON.stringify(cidr)} is invalid: write an IPv4 CIDR from /8 to /29, such as 10.209.0.0/16.`);
  }

  const network = ipv4ToNumber(address);
  const size = 2 ** (32 - prefixLength);
  if (network % size !== 0) {
    throw new ValidationError(
      'SUBNET_INVALID',
      `Subnet ${cidr} has host bits set: use ${numberToIpv4(network - (network % size))}/${prefixLength}.`,
    );
  }
  return {
    cidr,
    prefixLength,
    network,
    gateway: numberToIpv4(network + 1),
    firstHost: network + 2,
    lastHost: network + size - 2,
  };
}

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Checks whether `address` lies in `cidr`. Only IPv4 addresses can match. */
export function ipv4InCidr(address: string, cidr: string): boolean {
  const [network, prefixText] = cidr.split('/');
  if (!isIPv4(address) || !network) return false;

  const size = 2 ** (32 - Number(prefixText));
  const start = ipv4ToNumber(network);
  const value = ipv4ToNumber(address);
  return value >= start && value < start + size;
}
