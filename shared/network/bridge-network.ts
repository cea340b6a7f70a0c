import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SystemError, ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { CommandFailedError, runCommand } from '../process/run-command.ts';
import { AddressAllocator } from './address-allocator.ts';
import { ChildBridges, type ChildBridge } from './child-bridges.ts';
import { installFirewall, removeFirewall } from './firewall.ts';
import { parseSubnet, type Ipv4Subnet } from './ipv4.ts';
import { removePortForwards } from './published-ports.ts';
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
  /**
   * Prefix of the sandboxes' namespace and veth names; defaults to the bridge name. A child
   * bridge uses its main bridge's name, so a sandbox is found by its id alone, whichever
   * bridge of the network it is on.
   */
  namePrefix?: string;
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
 * host, from link-local addresses and from every other bridge, and network sandboxes
 * (namespaces with a veth pair) for containers to join. A main bridge can have child
 * bridges (one per owner, see runner/network/owner-networks.ts): they share its state
 * folder, address leases and name prefix, so listing, removing leftovers and teardown of
 * the main bridge cover them too.
 */
export class BridgeNetwork {
  readonly bridgeName: string;
  readonly subnet: Ipv4Subnet;
  readonly allocator: AddressAllocator;
  readonly stateDir: string;
  readonly namePrefix: string;
  private readonly requestedMtu?: number;
  /** The registry of child bridges; a child bridge has none, so it never removes its siblings. */
  private readonly children: ChildBridges | undefined;

  constructor(options: BridgeNetworkOptions) {
    if (!/^[A-Za-z0-9_-]+$/.test(options.bridgeName) || options.bridgeName.length > MAX_INTERFACE_NAME) {
      throw new ValidationError(
        'BRIDGE_NAME_INVALID',
        `Bridge name ${JSON.stringify(options.bridgeName)} is invalid: use 1 to ${MAX_INTERFACE_NAME} letters, digits, '_' or '-'.`,
      );
    }
    this.bridgeName = options.bridgeName;
    this.subnet = parseSubnet(options.subnet);
    this.stateDir = options.stateDir;
    this.namePrefix = options.namePrefix ?? options.bridgeName;
    this.allocator = new AddressAllocator(path.join(options.stateDir, 'leases'), this.subnet);
    this.requestedMtu = options.mtu;
    const isChild = this.namePrefix !== this.bridgeName;
    this.children = isChild ? undefined : new ChildBridges(path.join(options.stateDir, 'children'), this.bridgeName);
  }

  /**
   * Creates the bridge if missing, gives it the subnet's first address (and no other),
   * turns on IPv4 forwarding for the host and route_localnet for the bridge, and installs
   * the firewall rules with the interfaces of the default routes as uplinks. Running it
   * again changes nothing, except that it picks up changed uplinks.
   */
  async setup(): Promise<void> {
    const mtu = await this.mtu();
    if (!(await this.bridgeExists())) {
      await ignoreText(runCommand('ip', ['link', 'add', 'name', this.bridgeName, 'mtu', String(mtu), 'type', 'bridge']), 'File exists');
    }
    await this.setGatewayAddress();
    await runCommand('ip', ['link', 'set', this.bridgeName, 'up']);

    // Routing between the bridge and the uplink needs forwarding, which is host-wide.
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n');
    // Lets published ports reached at 127.0.0.1 be routed into the bridge (published-ports.ts).
    // The INPUT chain still drops every new connection from the bridge, whatever its addresses.
    await writeFile(`/proc/sys/net/ipv4/conf/${this.bridgeName}/route_localnet`, '1\n');
    const uplinks = await defaultRouteInterfaces();
    await installFirewall(this.bridgeName, this.subnet.cidr, uplinks);
    log.info({ bridge: this.bridgeName, subnet: this.subnet.cidr, mtu, uplinks }, 'bridge network ready');
  }

  /**
   * Removes every sandbox of this bridge and its children, the children, the published
   * ports, the firewall chains and the bridge itself. Leaves ip_forward on.
   */
  async teardown(): Promise<void> {
    await this.removeLeftoverSandboxes();
    for (const child of (await this.children?.list()) ?? []) {
      await removeFirewall(child.bridgeName);
      await ignoreText(runCommand('ip', ['link', 'del', child.bridgeName]), 'Cannot find device');
      await this.children?.forget(child);
      log.info({ bridge: child.bridgeName, label: child.label }, 'child bridge removed');
    }
    await removePortForwards(this.bridgeName);
    await removeFirewall(this.bridgeName);
    await ignoreText(runCommand('ip', ['link', 'del', this.bridgeName]), 'Cannot find device');
    log.info({ bridge: this.bridgeName }, 'bridge network removed');
  }

  async createSandbox(sandboxId: string): Promise<NetworkSandbox> {
    if (!(await this.bridgeExists())) {
      throw new SystemError('BRIDGE_MISSING', `Bridge ${this.bridgeName} does not exist: call setup() before creating sandboxes.`);
    }
    return createSandbox(
      { bridgeName: this.bridgeName, namePrefix: this.namePrefix, subnet: this.subnet, mtu: await this.mtu(), allocator: this.allocator },
      sandboxId,
    );
  }

  /**
   * Returns the child bridge labelled `label`, set up, creating it on the first free block
   * of `blocks` when it does not exist yet. The child shares this bridge's leases and name
   * prefix. Fails with NETWORK_BLOCKS_EXHAUSTED when every block is taken.
   */
  async child(label: string, blocks: ReadonlyArray<{ index: number; subnet: string }>): Promise<BridgeNetwork> {
    if (!this.children) throw new SystemError('BRIDGE_IS_CHILD', `Bridge ${this.bridgeName} is a child bridge: make child bridges on its main bridge ${this.namePrefix}.`);
    const record = await this.children.claim(label, blocks);
    const network = this.childNetwork(record);
    await network.setup();
    return network;
  }

  private childNetwork(record: ChildBridge): BridgeNetwork {
    return new BridgeNetwork({ bridgeName: record.bridgeName, subnet: record.subnet, stateDir: this.stateDir, mtu: this.requestedMtu, namePrefix: this.namePrefix });
  }

  /** Gives the bridge the gateway address, removing any other IPv4 address left by an earlier subnet setting. */
  private async setGatewayAddress(): Promise<void> {
    const gatewayAddress = `${this.subnet.gateway}/${this.subnet.prefixLength}`;
    const { stdout } = await runCommand('ip', ['-4', '-o', 'addr', 'show', 'dev', this.bridgeName]);
    for (const address of stdout.matchAll(/\binet\s+(\S+)/g)) {
      if (address[1] !== gatewayAddress) await runCommand('ip', ['addr', 'del', address[1] as string, 'dev', this.bridgeName]);
    }
    await runCommand('ip', ['addr', 'replace', gatewayAddress, 'dev', this.bridgeName]);
  }

  /**
   * Lists the sandboxes of this bridge and its children from the address leases and from
   * the network namespaces named `<name prefix>-<id>`, including those whose process is gone.
   */
  async listSandboxes(): Promise<SandboxListing[]> {
    const leases = await this.allocator.list();
    const listings: SandboxListing[] = leases.sort((left, right) => compareAddresses(left.ipAddress, right.ipAddress));

    const leasedNamespaces = new Set(leases.map((lease) => lease.netnsName));
    for (const netnsName of await this.namespaceNames()) {
      if (leasedNamespaces.has(netnsName)) continue;
      listings.push({ netnsName, sandboxId: netnsName.slice(this.namePrefix.length + 1) });
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
    return names.filter((name) => name.startsWith(`${this.namePrefix}-`));
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

/** Returns the interfaces of the host's IPv4 default routes, through which containers reach other hosts. */
export async function defaultRouteInterfaces(): Promise<string[]> {
  const { stdout } = await runCommand('ip', ['-4', 'route', 'show', 'default']);
  const devices = [...stdout.matchAll(/\bdev\s+(\S+)/g)].map((match) => match[1] as string);
  return [...new Set(devices)].sort();
}

async function ignoreText(command: Promise<unknown>, text: string): Promise<void> {
  try {
    await command;
  } catch (error) {
    if (error instanceof CommandFailedError && error.stderr.includes(text)) return;
    throw error;
  }
}
