import { describe, expect, it } from 'vitest';
import { planSubnets } from './subnet-plan.ts';

describe('planSubnets', () => {
  it('splits a /16 into /24 blocks with the first for builds', () => {
    const plan = planSubnets('10.209.0.0/16');

    expect(plan.buildSubnet).toBe('10.209.0.0/24');
    expect(plan.blockCount).toBe(256);
    expect(plan.block(1)).toBe('10.209.1.0/24');
    expect(plan.block(255)).toBe('10.209.255.0/24');
  });

  it('splits a /24 into eight /27 blocks', () => {
    const plan = planSubnets('10.211.7.0/24');

    expect(plan.buildSubnet).toBe('10.211.7.0/27');
    expect(plan.blockCount).toBe(8);
    expect(plan.block(3)).toBe('10.211.7.96/27');
  });

  it('splits a /26 into /29 blocks', () => {
    expect(planSubnets('10.1.2.64/26').block(7)).toBe('10.1.2.120/29');
  });

  it('rejects a range too small to split', () => {
    expect(() => planSubnets('10.1.2.0/27')).toThrow(expect.objectContaining({ code: 'SUBNET_TOO_SMALL' }));
  });

  it.each([-1, 8, 1.5])('rejects block %s of a /24', (index) => {
    expect(() => planSubnets('10.211.7.0/24').block(index)).toThrow(RangeError);
  });
});
