import { readFile, rename, writeFile } from 'node:fs/promises';
import { unmountOverlay, type OverlayMount } from '../../shared/container/overlay-mount.ts';
import type { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import { hostVethNameFor, netnsNameFor, removeSandboxParts, type NetworkSandbox } from '../../shared/network/network-sandbox.ts';
import type { HealthCheck } from '../health/health-check.ts';
import type { MachinePaths } from './machine-paths.ts';
import type { MachinePlan } from './machine.ts';

/**
 * What a runner needs to take a machine over after a restart, beside the database row:
 * its plan, address, port and health check. It is written into the machine's folder once
 * the machine is complete, so a folder without it is a half-made machine.
 */
export interface MachineRecord {
  plan: MachinePlan;
  ipAddress: string;
  port: number;
  health: HealthCheck;
}

export async function writeMachineRecord(paths: MachinePaths, record: MachineRecord): Promise<void> {
  const temporary = `${paths.record}.tmp`;
  await writeFile(temporary, JSON.stringify(record), { mode: 0o600 });
  await rename(temporary, paths.record);
}

/** Returns the machine's record, or null when it is missing or unreadable. */
export async function readMachineRecord(paths: MachinePaths): Promise<MachineRecord | null> {
  const text = await readFile(paths.record, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as MachineRecord;
  } catch {
    return null;
  }
}

/** Returns a handle on an overlay that an earlier runner process mounted, because mounts outlive the process that made them. */
export function adoptedOverlay(target: string): OverlayMount {
  const unmount = () => unmountOverlay(target);
  return { target, unmount, [Symbol.asyncDispose]: unmount };
}

/**
 * Returns a handle on a network sandbox that an earlier runner process made. Its parts have fixed
 * names (see netnsNameFor and hostVethNameFor), and the address comes from the record.
 */
export function adoptedSandbox(network: BridgeNetwork, machineId: string, ipAddress: string): NetworkSandbox {
  const netnsName = netnsNameFor(network.namePrefix, machineId);
  const hostVeth = hostVethNameFor(network.namePrefix, machineId);
  return {
    id: machineId,
    netnsName,
    netnsPath: `/run/netns/${netnsName}`,
    ipAddress,
    gateway: network.subnet.gateway,
    hostVeth,
    remove: () => removeSandboxParts(network.allocator, { sandboxId: machineId, netnsName, hostVeth, ipAddress }),
  };
}
