import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SystemError, ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { CommandFailedError, runCommand } from '../process/run-command.ts';
import { AddressAllocator } from './address-allocator.ts';
import { installFirewall, removeFirewall } from './firewall.ts';
import { parseSubnet, type Ipv4Subnet } from './ipv4.ts';
import {
  MAX_INTERFACE_NAME,
  compareAddresses,
  createSandbox,
  removeSandboxParts,
  type NetworkSandbox,
} from './network-sandbox.ts';

const log = createLogger('bridge-network');

export interface BridgeNetworkOptions {
  /** Linux bridge name, at most 15 characters; Slipway's default is slipway0. */
  bridgeName: string;
  /** IPv4 subnet in CIDR form; the bridge takes its first address. Slipway's default is 10.209.0.0/16. */
  subnet: string;
  /** Folder for address leases; every process using this bridge must use the same one. */
  stateDir: string;
  /** MTU of the bridge side and of each container's eth0; defaults to that of the host's default route. */
  mtu?: number;
}

/** A sandbox that a listing found, possibly left over from a process that crashed. */
export interface SandboxListing {
  sandboxId?: string;
  netnsName?: string;
  hostVeth?: string;
  ipAddress?: string;
}

/**
 * A Linux bridge with NAT to the outside, a firewall that keeps containers away from the
 * host and from link-local addresses, and network sandboxes (namespaces with a veth pair)
 * for containers to join.
 */
export class BridgeNetwork {
  readonly bridgeName: string;
  readonly subnet: Ipv4Subnet;
  readonly allocator: AddressAllocator;
  private readonly requestedMtu?: number;

  constructor(options: BridgeNetworkOptions) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.bridgeName) || options.bridgeName.length > MAX_INTERFACE_NAME) {
      throw new ValidationError(
        'BRIDGE_NAME_INVALID',
        `Bridge name ${JSON.stringify(options.bridgeName)} is invalid: use 1 to ${MAX_INTERFACE_NAME} letters, digits, '_' or '-'.`,
      );
    }
    this.bridgeName = options.bridgeName;
    this.subnet = parseSubnet(options.subnet);
    this.allocator = new AddressAllocator(path.join(options.stateDir, 'leases'), this.subnet);
    this.requestedMtu = options.mtu;
  }

  /**
   * Creates the bridge if missing, gives it the subnet's first address, turns on IPv4
   * forwarding for the host, and installs the firewall rules. Running it again changes nothing.
   */
  async setup(): Promise<void> {
    const mtu = await this.mtu();
    if (!(await this.bridgeExists())) {
      await ignoreText(runCommand('ip', ['link', 'add', 'name', this.bridgeName, 'mtu', String(mtu), 'type', 'bridge']), 'File exists');
    }
    await runCommand('ip', ['addr', 'replace', `${this.subnet.gateway}/${this.subnet.prefixLength}`, 'dev', this.bridgeName]);
    await runCommand('ip', ['link', 'set', this.bridgeName, 'up']);

    // Routing between the bridge and the uplink needs forwarding, which is host-wide.
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
    await installFirewall(this.bridgeName, this.subnet.cidr);
    log.info({ bridge: this.bridgeName, subnet: this.subnet.cidr, mtu }, 'bridge network ready');
  }

  /** Removes every sandbox of this bridge, its firewall chains and the bridge itself. Leaves ip_forward on. */
  async teardown(): Promise<void> {
    await this.removeLeftoverSandboxes();
    await removeFirewall(this.bridgeName);
    await ignoreText(runCommand('ip', ['link', 'del', this.bridgeName]), 'Cannot find device');
    log.info({ bridge: this.bridgeName }, 'bridge network removed');
  }

  async createSandbox(sandboxId: string): Promise<NetworkSandbox> {
    if (!(await this.bridgeExists())) {
      throw new SystemError('BRIDGE_MISSING', `Bridge ${this.bridgeName} does not exist: call setup() before creating sandboxes.`);
    }
    return createSandbox({ bridgeName: this.bridgeName, subnet: this.subnet, mtu: await this.mtu(), allocator: this.allocator }, sandboxId);
  }

  /**
   * Lists this bridge's sandboxes from the address leases and from the network namespaces
   * named `<bridge>-<id>`, including those whose process is gone.
   */
  async listSandboxes(): Promise<SandboxListing[]> {
    const leases = await this.allocator.list();
    const listings: SandboxListing[] = leases.sort((left, right) => compareAddresses(left.ipAddress, right.ipAddress));

    const leasedNamespaces = new Set(leases.map((lease) => lease.netnsName));
    for (const netnsName of await this.namespaceNames()) {
      if (leasedNamespaces.has(netnsName)) continue;
      listings.push({ netnsName, sandboxId: netnsName.slice(this.bridgeName.length + 1) });
    }
    return listings;
  }

  /**
   * Removes this bridge's sandboxes except those in `keepIds`, and returns the removed ones.
   * The runner calls it at start with the ids of the containers it still runs, to clean up
   * after a crash.
   */
  async removeLeftoverSandboxes(keepIds: Iterable<string> = []): Promise<SandboxListing[]> {
    const keep = new Set(keepIds);
    const removed: SandboxListing[] = [];
    for (const listing of await this.listSandboxes()) {
      if (listing.sandboxId !== undefined && keep.has(listing.sandboxId)) continue;
      await removeSandboxParts(this.allocator, { sandboxId: listing.sandboxId ?? '(unknown)', ...listing });
      removed.push(listing);
    }
    return removed;
  }

  private async namespaceNames(): Promise<string[]> {
    const names = await readdir('/run/netns').catch(() => [] as string[]);
    return names.filter((name) => name.startsWith(`${this.bridgeName}-`));
  }

  private async bridgeExists(): Promise<boolean> {
    try {
      await runCommand('ip', ['link', 'show', 'dev', this.bridgeName]);
      return true;
    } catch (error) {
      if (error instanceof CommandFailedError && error.stderr.includes('does not exist')) return false;
      throw error;
    }
  }

  /** Returns the configured MTU, or that of the host's default-route interface (1500 when there is none). */
  private async mtu(): Promise<number> {
    if (this.requestedMtu !== undefined) return this.requestedMtu;

    const { stdout } = await runCommand('ip', ['-4', 'route', 'show', 'default']);
    const device = /\bdev\s+(\S+)/.exec(stdout)?.[1];
    if (!device) return 1500;
    const text = await readFile(`/sys/class/net/${device}/mtu`, 'utf8').catch(() => '1500');
    return Number(text.trim()) || 1500;
  }
}

async function ignoreText(command: Promise<unknown>, text: string): Promise<void> {
  try {
    await command;
  } catch (error) {
    if (error instanceof CommandFailedError && error.stderr.includes(text)) return;
    throw error;
  }
}
