import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { isIPv4 } from 'node:net';
import { SystemError } from '../errors.ts';
import { ipv4InCidr } from './ipv4.ts';
import { LINK_LOCAL_CIDR } from './firewall.ts';

export interface ResolvConfOptions {
  /** The host's resolver configuration; /etc/resolv.conf unless a test points elsewhere. */
  hostPath?: string;
  /**
   * Read when every nameserver of `hostPath` is loopback: systemd-resolved lists the
   * upstream servers there while /etc/resolv.conf names its stub at 127.0.0.53.
   */
  upstreamPath?: string;
  /** The host's own addresses; read from its interfaces unless given. */
  hostAddresses?: string[];
}

/**
 * Returns the resolv.conf for containers on a Slipway bridge: the host's configuration with
 * only the nameservers a container can reach. A container has no IPv6 and the firewall
 * drops its traffic to the host itself and to link-local addresses, so loopback, IPv6,
 * link-local and host-owned nameservers are left out. Search domains and options are kept.
 * Fails with RESOLV_CONF_UNUSABLE, naming the servers, when none is left.
 */
export async function containerResolvConf(options: ResolvConfOptions = {}): Promise<string> {
  const hostPath = options.hostPath ?? '/etc/resolv.conf';
  const upstreamPath = options.upstreamPath ?? '/run/systemd/resolve/resolv.conf';
  const hostAddresses = new Set(options.hostAddresses ?? ownAddresses());

  const tried: string[] = [];
  for (const candidate of [hostPath, upstreamPath]) {
    const text = await readFile(candidate, 'utf8').catch(() => undefined);
    if (text === undefined) continue;

    const filtered = filterNameservers(text, hostAddresses);
    if (filtered.usable > 0) return filtered.text;
    tried.push(`${candidate} (${filtered.dropped.join(', ') || 'no nameserver'})`);
  }

  throw new SystemError(
    'RESOLV_CONF_UNUSABLE',
    `No nameserver that containers can reach was found in ${tried.join(' or ') || `${hostPath} (missing)`}: ` +
      'containers cannot use loopback, IPv6, link-local or host-owned resolvers. ' +
      'Add a nameserver on another host to /etc/resolv.conf.',
    { details: { tried } },
  );
}

function filterNameservers(text: string, hostAddresses: Set<string>): { text: string; usable: number; dropped: string[] } {
  const lines: string[] = [];
  const dropped: string[] = [];
  let usable = 0;

  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!match) {
      lines.push(line);
      continue;
    }
    const server = match[1] as string;
    if (reachableFromContainer(server, hostAddresses)) {
      lines.push(`nameserver ${server}`);
      usable += 1;
    } else {
      dropped.push(server);
    }
  }
  return { text: `${lines.join('\n').trimEnd()}\n`, usable, dropped };
}

function reachableFromContainer(server: string, hostAddresses: Set<string>): boolean {
  if (!isIPv4(server)) return false;
  if (ipv4InCidr(server, '127.0.0.0/8') || ipv4InCidr(server, '0.0.0.0/8')) return false;
  if (ipv4InCidr(server, LINK_LOCAL_CIDR)) return false;
  return !hostAddresses.has(server);
}

function ownAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .map((entry) => entry?.address)
    .filter((address): address is string => address !== undefined);
}
