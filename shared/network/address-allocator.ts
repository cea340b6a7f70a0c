import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { SystemError } from '../errors.ts';
import { claimFile } from '../files/claim-file.ts';
import { numberToIpv4, type Ipv4Subnet } from './ipv4.ts';

/** Contents of a lease file: the sandbox that uses the address. */
export interface LeaseRecord {
  sandboxId: string;
  netnsName: string;
  hostVeth: string;
}

export interface Lease extends Partial<LeaseRecord> {
  ipAddress: string;
}

/**
 * Hands out the host addresses of a subnet. Each lease is a file named after its address in
 * `leaseDir`, created with O_EXCL, so two processes sharing the folder never get the same
 * address. Leases outlive the process: a crashed runner's leases stay until they are released.
 */
export class AddressAllocator {
  constructor(
    readonly leaseDir: string,
    readonly subnet: Ipv4Subnet,
  ) {}

  /** Takes the lowest free address and writes `record` into its lease file. */
  async allocate(record: LeaseRecord): Promise<string> {
    await mkdir(this.leaseDir, { recursive: true });

    for (let value = this.subnet.firstHost; value <= this.subnet.lastHost; value += 1) {
      const ipAddress = numberToIpv4(value);
      if (await claimFile(this.leasePath(ipAddress), record)) return ipAddress;
    }

    throw new SystemError(
      'ADDRESS_POOL_EXHAUSTED',
      `Every address of subnet ${this.subnet.cidr} is leased (leases in ${this.leaseDir}): ` +
        'remove leftover sandboxes or configure a larger subnet.',
      { details: { subnet: this.subnet.cidr } },
    );
  }

  /** Deletes the lease of `ipAddress`; safe to call twice. */
  async release(ipAddress: string): Promise<void> {
    await rm(this.leasePath(ipAddress), { force: true });
  }

  /**
   * Lists every lease. A lease whose record is unreadable (a process died between creating
   * and writing it) is listed with its address only.
   */
  async list(): Promise<Lease[]> {
    const names = await readdir(this.leaseDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });

    const leases: Lease[] = [];
    for (const name of names) {
      const text = await readFile(this.leasePath(name), 'utf8').catch(() => '');
      leases.push({ ipAddress: name, ...parseRecord(text) });
    }
    return leases;
  }

  private leasePath(ipAddress: string): string {
    return path.join(this.leaseDir, ipAddress);
  }
}

function parseRecord(text: string): Partial<LeaseRecord> {
  try {
    const record = JSON.parse(text) as Partial<LeaseRecord>;
    return typeof record === 'object' && record !== null ? record : {};
  } catch {
    return {};
  }
}
