import { ValidationError } from '../errors.ts';
import { numberToIpv4, parseSubnet } from './ipv4.ts';

/** The largest block prefix: a /29 leaves five container addresses beside the gateway. */
const MAX_BLOCK_PREFIX = 29;

/**
 * How Slipway splits the containers' address range (SLIPWAY_BRIDGE_SUBNET): the range is
 * cut into equal blocks, the first for build steps on the main bridge, each other one
 * for the apps of one owner on a bridge of their own. A /16 gives /24 blocks: 255 owners
 * of 253 containers each. A smaller range gives 8 blocks, so a /24 gives /27 blocks of
 * 29 containers.
 */
export interface SubnetPlan {
  /** The whole range, in CIDR form. */
  range: string;
  /** Block 0: build steps. */
  buildSubnet: string;
  blockPrefix: number;
  /** Blocks 1 to blockCount - 1 are owner networks. */
  blockCount: number;
  /** Returns block `index` in CIDR form. */
  block(index: number): string;
}

export function planSubnets(range: string): SubnetPlan {
  const subnet = parseSubnet(range);
  const blockPrefix = Math.max(24, subnet.prefixLength + 3);
  if (blockPrefix > MAX_BLOCK_PREFIX) {
    throw new ValidationError(
      'SUBNET_TOO_SMALL',
      `Subnet ${range} is too small to split into a build network and owner networks: use a /26 or larger, such as 10.209.0.0/16.`,
      { details: { subnet: range } },
    );
  }

  const blockCount = 2 ** (blockPrefix - subnet.prefixLength);
  const blockSize = 2 ** (32 - blockPrefix);
  const block = (index: number): string => {
    if (!Number.isInteger(index) || index < 0 || index >= blockCount) {
      throw new RangeError(`Block ${index} is outside 0 to ${blockCount - 1} of ${range}.`);
    }
    return `${numberToIpv4(subnet.network + index * blockSize)}/${blockPrefix}`;
  };
  return { range: subnet.cidr, buildSubnet: block(0), blockPrefix, blockCount, block };
}
