import { CommandFailedError, runCommand } from '../process/run-command.ts';

/** Link-local addresses, where cloud metadata services listen. The firewall drops container traffic to them. */
export const LINK_LOCAL_CIDR = '169.254.0.0/16';
const LOOPBACK_CIDR = '127.0.0.0/8';

/** The iptables chains of one bridge. Names stay within iptables' 28 characters for a 15-character bridge name. */
export interface FirewallChains {
  input: string;
  forward: string;
  postrouting: string;
}

export function firewallChains(bridgeName: string): FirewallChains {
  return {
    input: `SLIPWAY-IN-${bridgeName}`,
    forward: `SLIPWAY-FWD-${bridgeName}`,
    postrouting: `SLIPWAY-NAT-${bridgeName}`,
  };
}

/** A rule in a built-in chain that sends packets to one of ours. */
interface Jump {
  table: 'filter' | 'nat';
  chain: string;
  match: string[];
}

function jumps(bridgeName: string, chains: FirewallChains): Jump[] {
  return [
    { table: 'filter', chain: 'INPUT', match: ['-i', bridgeName, '-j', chains.input] },
    { table: 'filter', chain: 'FORWARD', match: ['-j', chains.forward] },
    { table: 'nat', chain: 'POSTROUTING', match: ['-j', chains.postrouting] },
  ];
}

/**
 * Builds the rules of a bridge's chains in iptables-restore format:
 * - INPUT from the bridge: only replies to connections the host opened pass, so services on
 *   the host (Redis, Postgres, the API) are unreachable from containers on any address.
 * - FORWARD from the bridge: traffic between two containers of this bridge passes. (It
 *   reaches iptables at all only when br_netfilter is loaded.) Traffic to link-local
 *   addresses is dropped, and traffic out through an uplink (an interface of a default
 *   route) is accepted. Everything else is dropped, which keeps containers off every other
 *   bridge: other owners' networks, the build network, and bridges such as docker0.
 * - FORWARD into the bridge: replies pass, and new connections only from an uplink after
 *   DNAT (a published port), so neither other hosts nor other bridges open connections to
 *   containers directly.
 * - POSTROUTING: traffic from the subnet that leaves through another interface is
 *   masqueraded, and so is traffic from loopback addresses into the bridge, which is a
 *   published port reached at 127.0.0.1 (see published-ports.ts).
 * Each bridge's chains decide alone and only match its own traffic, so the order in which
 * the chains of several bridges are jumped to does not matter.
 * Declaring a chain in iptables-restore --noflush empties it first, so applying the rules
 * again replaces them in one transaction instead of adding duplicates.
 */
function chainRules(bridgeName: string, subnetCidr: string, uplinks: readonly string[], chains: FirewallChains): string {
  return [
    '*filter',
    `:${chains.input} - [0:0]`,
    `:${chains.forward} - [0:0]`,
    `-A ${chains.input} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${chains.input} -j DROP`,
    `-A ${chains.forward} -i ${bridgeName} -o ${bridgeName} -j ACCEPT`,
    `-A ${chains.forward} -i ${bridgeName} -d ${LINK_LOCAL_CIDR} -j DROP`,
    ...uplinks.map((uplink) => `-A ${chains.forward} -i ${bridgeName} -o ${uplink} -j ACCEPT`),
    `-A ${chains.forward} -i ${bridgeName} -j DROP`,
    `-A ${chains.forward} -o ${bridgeName} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    ...uplinks.map((uplink) => `-A ${chains.forward} -i ${uplink} -o ${bridgeName} -m conntrack --ctstate DNAT -j ACCEPT`),
    `-A ${chains.forward} -o ${bridgeName} -j DROP`,
    'COMMIT',
    '*nat',
    `:${chains.postrouting} - [0:0]`,
    `-A ${chains.postrouting} -s ${subnetCidr} ! -o ${bridgeName} -j MASQUERADE`,
    `-A ${chains.postrouting} -s ${LOOPBACK_CIDR} -o ${bridgeName} -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Installs (or replaces) the bridge's chains and makes sure each built-in chain jumps to
 * them once, as the first rule so that a host policy of DROP does not stop container traffic.
 * `uplinks` are the interfaces through which containers may reach other hosts.
 * NOTE: two processes installing at the same moment could both add a jump; call it once per
 * host at start, as the runner does.
 */
export async function installFirewall(bridgeName: string, subnetCidr: string, uplinks: readonly string[]): Promise<void> {
  const chains = firewallChains(bridgeName);
  await runCommand('iptables-restore', ['--noflush'], { input: chainRules(bridgeName, subnetCidr, uplinks, chains) });

  for (const jump of jumps(bridgeName, chains)) {
    if (await iptablesSucceeds(['-t', jump.table, '-C', jump.chain, ...jump.match])) continue;
    await runCommand('iptables', ['-t', jump.table, '-I', jump.chain, '1', ...jump.match]);
  }
}

/** Removes every jump to the bridge's chains and the chains themselves; safe to call twice. */
export async function removeFirewall(bridgeName: string): Promise<void> {
  const chains = firewallChains(bridgeName);
  for (const jump of jumps(bridgeName, chains)) {
    while (await iptablesSucceeds(['-t', jump.table, '-D', jump.chain, ...jump.match]));
  }

  const owned: Array<['filter' | 'nat', string]> = [
    ['filter', chains.input],
    ['filter', chains.forward],
    ['nat', chains.postrouting],
  ];
  for (const [table, chain] of owned) {
    if (!(await iptablesSucceeds(['-t', table, '-F', chain]))) continue;
    await runCommand('iptables', ['-t', table, '-X', chain]);
  }
}

/** Runs iptables and reports whether it exited 0; any other failure (missing rule or chain) is false. */
export async function iptablesSucceeds(args: string[]): Promise<boolean> {
  try {
    await runCommand('iptables', args);
    return true;
  } catch (error) {
    if (error instanceof CommandFailedError && error.exitCode !== null) return false;
    throw error;
  }
}
