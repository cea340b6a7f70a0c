import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AddressAllocator } from './address-allocator.ts';
import { parseSubnet } from './ipv4.ts';

const record = (sandboxId: string) => ({ sandboxId, netnsName: `br-${sandboxId}`, hostVeth: `vsw${sandboxId}` });

describe('AddressAllocator', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-leases-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hands out addresses after the gateway, lowest first', async () => {
    const allocator = new AddressAllocator(dir, parseSubnet('10.50.0.0/24'));

    await expect(allocator.allocate(record('a'))).resolves.toBe('10.50.0.2');
    await expect(allocator.allocate(record('b'))).resolves.toBe('10.50.0.3');
  });

  it('reuses a released address', async () => {
    const allocator = new AddressAllocator(dir, parseSubnet('10.50.0.0/24'));
    const first = await allocator.allocate(record('a'));
    await allocator.allocate(record('b'));

    await allocator.release(first);

    await expect(allocator.allocate(record('c'))).resolves.toBe(first);
  });

  it('never gives two concurrent allocators the same address', async () => {
    const subnet = parseSubnet('10.50.0.0/24');
    const allocators = Array.from({ length: 8 }, () => new AddressAllocator(dir, subnet));

    const addresses = await Promise.all(
      Array.from({ length: 64 }, (_unused, index) => allocators[index % allocators.length]!.allocate(record(`s${index}`))),
    );

    expect(new Set(addresses).size).toBe(64);
    expect((await readdir(dir)).length).toBe(64);
  });

  it('fails when the subnet is exhausted', async () => {
    const allocator = new AddressAllocator(dir, parseSubnet('10.50.0.0/29'));
    for (let index = 0; index < 5; index += 1) await allocator.allocate(record(`s${index}`));

    await expect(allocator.allocate(record('one-too-many'))).rejects.toMatchObject({ code: 'ADDRESS_POOL_EXHAUSTED' });
  });

  it('lists leases with their records', async () => {
    const allocator = new AddressAllocator(dir, parseSubnet('10.50.0.0/24'));
    await allocator.allocate(record('a'));
    await writeFile(path.join(dir, '10.50.0.9'), '');

    const leases = await allocator.list();

    expect(leases).toContainEqual({ ipAddress: '10.50.0.2', ...record('a') });
    expect(leases).toContainEqual({ ipAddress: '10.50.0.9' });
  });

  it('lists nothing before the first lease', async () => {
    const allocator = new AddressAllocator(path.join(dir, 'not-created'), parseSubnet('10.50.0.0/24'));

    await expect(allocator.list()).resolves.toEqual([]);
  });
});
