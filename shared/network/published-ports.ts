import { isIPv4 } from 'node:net';
import { ValidationError } from '../errors.ts';
import { runCommand } from '../process/run-command.ts';
import { iptablesSucceeds } from './firewall.ts';

/** One host TCP port forwarded to a container, as `docker run -p host:container` does. */
export interface PortForward {
  hostPort: number;
  targetAddress: string;
  targetPort: number;
}

/** Returns the nat chain of a network's published ports; the name fits iptables' 28 characters for a 15-character bridge name. */
export function publishedPortsChain(bridgeName: string): string {
  return `SLIPWAY-PORTS-${bridgeName}`;
}

/** Returns the jumps into the chain: from packets arriving for a local address, and from packets the host sends to one. */
function jumps(chain: string): Array<{ chain: string; match: string[] }> {
  const local = ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chain];
  return [
    { chain: 'PREROUTING', match: local },
    { chain: 'OUTPUT', match: local },
  ];
}

/**
 * Replaces the published ports of a network in one iptables-restore transaction. Each
 * forward is a DNAT of TCP connections to any local address of the host (127.0.0.1
 * included) at `hostPort` to the container's address and port:
 * - from other hosts, through PREROUTING; the bridge firewall then lets them in from an uplink;
 * - from the host itself, through OUTPUT. A connection to 127.0.0.1 keeps its loopback
 *   source, which the kernel routes out of a bridge only with route_localnet on that bridge
 *   (BridgeNetwork.setup sets it), and which the bridge's POSTROUTING chain masquerades so
 *   that the container replies to the bridge. This keeps published ports in the kernel, so they
 *   keep working while the runner restarts, where a proxy process would stop.
 * Connections from containers (`containerRange`) are not forwarded: containers reach each
 * other by name on their owner's network, and a container is never let in by way of the host.
 */
export async function applyPortForwards(bridgeName: string, containerRange: string, forwards: readonly PortForward[]): Promise<void> {
  for (const forward of forwards) validateForward(forward);
  const chain = publishedPortsChain(bridgeName);
  const rules = [
    '*nat',
    `:${chain} - [0:0]`,
    `-A ${chain} -s ${containerRange} -j RETURN`,
    ...forwards.map(
      (forward) => `-A ${chain} -p tcp -m tcp --dport ${forward.hostPort} -j DNAT --to-destination ${forward.targetAddress}:${forward.targetPort}`,
    ),
    'COMMIT',
    '',
  ].join('\n');
  await runCommand('iptables-restore', ['--noflush'], { input: rules });

  for (const jump of jumps(chain)) {
    if (await iptablesSucceeds(['-t', 'nat', '-C', jump.chain, ...jump.match])) continue;
    await runCommand('iptables', ['-t', 'nat', '-I', jump.chain, '1', ...jump.match]);
  }
}

/** Removes the jumps and the chain of a network's published ports; safe to call twice. */
export async function removePortForwards(bridgeName: string): Promise<void> {
  const chain = publishedPortsChain(bridgeName);
  for (const jump of jumps(chain)) {
    while (await iptablesSucceeds(['-t', 'nat', '-D', jump.chain, ...jump.match]));
  }
  if (await iptablesSucceeds(['-t', 'nat', '-F', chain])) await runCommand('iptables', ['-t', 'nat', '-X', chain]);
}

function validateForward(forward: PortForward): void {
  const ports = [forward.hostPort, forward.targetPort];
  if (ports.every((port) => Number.isInteger(port) && port >= 1 && port <= 65535) && isIPv4(forward.targetAddress)) return;
  throw new ValidationError(
    'PORT_FORWARD_INVALID',
    `Port forward ${forward.hostPort} -> ${forward.targetAddress}:${forward.targetPort} is invalid: ports must be 1 to 65535 and the target an IPv4 address.`,
  );
}
