import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { ConflictError, SystemError, ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { CommandFailedError, runCommand } from '../process/run-command.ts';
import type { AddressAllocator } from './address-allocator.ts';
import { ipv4ToNumber, type Ipv4Subnet } from './ipv4.ts';

const log = createLogger('network-sandbox');

/** Linux interface names hold at most 15 characters (IFNAMSIZ 16 with the NUL). */
export const MAX_INTERFACE_NAME = 15;

/** A network namespace attached to a bridge, which a container joins through `netnsPath`. */
export interface NetworkSandbox {
  id: string;
  netnsName: string;
  /** /run/netns/<name>, for the `path` of the runtime spec's network namespace. */
  netnsPath: string;
  ipAddress: string;
  gateway: string;
  /** The host end of the veth pair; the other end is `eth0` in the namespace. */
  hostVeth: string;
  /** Deletes the veth pair, the namespace and the address lease; safe to call twice. */
  remove(): Promise<void>;
}

export interface SandboxContext {
  bridgeName: string;
  /** Prefix of the namespace and veth names: the bridge's own name, or the main bridge of the network it belongs to. */
  namePrefix?: string;
  subnet: Ipv4Subnet;
  mtu: number;
  allocator: AddressAllocator;
}

const SANDBOX_ID_PATTERN = /^[A-Za-z0-9_.+-]{1,200}$/;

export function netnsNameFor(bridgeName: string, sandboxId: string): string {
  return `${bridgeName}-${sandboxId}`;
}

/** `vsw` and 12 hex digits of a hash of bridge and id: unique per sandbox and 15 characters long. */
export function hostVethNameFor(bridgeName: string, sandboxId: string): string {
  return `vsw${createHash('sha256').update(`${bridgeName}/${sandboxId}`).digest('hex').slice(0, MAX_INTERFACE_NAME - 3)}`;
}

/**
 * Makes a locally administered MAC address from the IPv4 address, so a reused address gets
 * the same MAC and the neighbours' ARP caches stay correct.
 */
export function macAddressFor(ipAddress: string): string {
  const octets = ipAddress.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0'));
  return ['02', '73', ...octets].join(':');
}

/**
 * Creates a network namespace with a veth pair to the bridge: `eth0` inside with the next
 * free address of the subnet and a default route through the bridge, and loopback up.
 * Everything made so far is removed again when a step fails.
 */
export async function createSandbox(context: SandboxContext, sandboxId: string): Promise<NetworkSandbox> {
  if (!SANDBOX_ID_PATTERN.test(sandboxId)) {
    throw new ValidationError(
      'SANDBOX_ID_INVALID',
      `Sandbox id ${JSON.stringify(sandboxId)} is invalid: use 1 to 200 letters, digits, '_', '.', '+' or '-'.`,
    );
  }
  const namePrefix = context.namePrefix ?? context.bridgeName;
  const netnsName = netnsNameFor(namePrefix, sandboxId);
  const hostVeth = hostVethNameFor(namePrefix, sandboxId);
  if (await namespaceExists(netnsName)) {
    throw new ConflictError('SANDBOX_EXISTS', `Network namespace ${netnsName} already exists: remove sandbox ${sandboxId} first.`);
  }

  const ipAddress = await context.allocator.allocate({ sandboxId, netnsName, hostVeth });
  const sandbox: NetworkSandbox = {
    id: sandboxId,
    netnsName,
    netnsPath: `/run/netns/${netnsName}`,
    ipAddress,
    gateway: context.subnet.gateway,
    hostVeth,
    remove: () => removeSandboxParts(context.allocator, { sandboxId, netnsName, hostVeth, ipAddress }),
  };

  try {
    await configureSandbox(context, sandbox);
  } catch (error) {
    await sandbox.remove();
    const output = error instanceof CommandFailedError ? error.message : String(error);
    throw new SystemError('SANDBOX_CREATE_FAILED', `Creating network sandbox ${sandboxId} on ${context.bridgeName} failed: ${output}`, {
      cause: error,
      details: { sandboxId, bridge: context.bridgeName },
    });
  }
  log.info({ sandboxId, ipAddress, bridge: context.bridgeName }, 'sandbox created');
  return sandbox;
}

async function configureSandbox(context: SandboxContext, sandbox: NetworkSandbox): Promise<void> {
  const mtu = String(context.mtu);
  const inside = (...args: string[]) => runCommand('ip', ['-n', sandbox.netnsName, ...args]);

  await runCommand('ip', ['netns', 'add', sandbox.netnsName]);
  await runCommand('ip', [
    'link', 'add', sandbox.hostVeth, 'mtu', mtu, 'type', 'veth',
    'peer', 'name', 'eth0', 'mtu', mtu, 'address', macAddressFor(sandbox.ipAddress), 'netns', sandbox.netnsName,
  ]);
  await runCommand('ip', ['link', 'set', sandbox.hostVeth, 'master', context.bridgeName, 'up']);

  await inside('link', 'set', 'lo', 'up');
  await inside('addr', 'add', `${sandbox.ipAddress}/${context.subnet.prefixLength}`, 'dev', 'eth0');
  await inside('link', 'set', 'eth0', 'up');
  await inside('route', 'add', 'default', 'via', sandbox.gateway);
}

/**
 * Deletes what a sandbox consists of, each part only if present: the veth pair (deleting
 * one end deletes both), the namespace, then the lease, so a crash halfway leaves the lease
 * by which the rest is found again.
 */
export async function removeSandboxParts(
  allocator: AddressAllocator,
  parts: { sandboxId: string; netnsName?: string; hostVeth?: string; ipAddress?: string },
): Promise<void> {
  if (parts.hostVeth) await ignoreMissing(runCommand('ip', ['link', 'del', parts.hostVeth]), 'Cannot find device');
  if (parts.netnsName) await ignoreMissing(runCommand('ip', ['netns', 'del', parts.netnsName]), 'No such file');
  if (parts.ipAddress) await allocator.release(parts.ipAddress);
  log.info({ sandboxId: parts.sandboxId, ipAddress: parts.ipAddress }, 'sandbox removed');
}

async function ignoreMissing(command: Promise<unknown>, missingText: string): Promise<void> {
  try {
    await command;
  } catch (error) {
    if (error instanceof CommandFailedError && error.stderr.includes(missingText)) return;
    throw error;
  }
}

export async function namespaceExists(netnsName: string): Promise<boolean> {
  return access(`/run/netns/${netnsName}`).then(
    () => true,
    () => false,
  );
}

/** Orders addresses numerically, for stable listings. */
export function compareAddresses(left: string, right: string): number {
  return ipv4ToNumber(left) - ipv4ToNumber(right);
}
