import { lookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ValidationError } from '../../../shared/errors.ts';

/**
 * Keeps ADD's downloads and git fetches, which the worker makes on its own network, from
 * the build host itself. A RUN step cannot reach the host's services (its firewall drops
 * that), so a URL must not reach them either: loopback, link-local addresses (cloud
 * metadata services live there), the unspecified address and every address of the
 * host's interfaces (the bridges' gateways among them) are rejected. Other hosts,
 * LAN ones included, stay reachable, as they are from a RUN step through NAT.
 * `allow` holds `host:port` pairs (from SLIPWAY_BUILD_FETCH_ALLOW) exempt from the check.
 */
export class FetchGuard {
  constructor(private readonly allow: ReadonlySet<string>) {}

  /** Whether `host:port` is exempt, with `host` as the URL writes it (IPv6 in brackets). */
  isAllowed(host: string, port: number): boolean {
    return this.allow.has(`${host.toLowerCase()}:${port}`);
  }

  /**
   * Resolves a host name (or takes an address) and rejects it when any of its addresses
   * is the build host's. Returns the checked addresses; none for an allowed pair.
   */
  async check(source: string, host: string, port: number): Promise<string[]> {
    if (this.isAllowed(host, port)) return [];
    const bare = host.replace(/^\[|\]$/g, '');
    const addresses = isIP(bare) ? [bare] : await resolveAll(bare);
    for (const address of addresses) this.checkAddress(source, host, port, address);
    return addresses;
  }

  /** A dns.lookup for http.get that rejects the host's own addresses, so the check holds for the address actually used. */
  lookupFor(source: string, port: number): typeof lookup {
    const guarded = (hostname: string, options: object, callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
      lookup(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) return callback(error, '');
        try {
          for (const entry of addresses) this.checkAddress(source, hostname, port, entry.address);
        } catch (rejected) {
          return callback(rejected as Error, '');
        }
        if ((options as { all?: boolean }).all) return callback(null, addresses);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    };
    return guarded as typeof lookup;
  }

  /** Rejects a literal address of the build host, unless `host:port` is allowed. */
  checkAddress(source: string, host: string, port: number, address: string): void {
    if (this.isAllowed(host, port)) return;
    const reason = hostAddressKind(address);
    if (reason === null) return;
    const pair = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    throw new ValidationError(
      'ADD_SOURCE_FORBIDDEN',
      `ADD ${source}: ${host} is ${address}, ${reason} of the build host, which builds may not reach: ` +
        `serve the file from another host, or let builds fetch from it with SLIPWAY_BUILD_FETCH_ALLOW=${pair}.`,
      { details: { source, host, address } },
    );
  }
}

/** Says which kind of the build host's own address `address` is, or null for another host's. */
export function hostAddressKind(address: string): string | null {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return hostAddressKind(mapped[1]!);
  const version = isIP(lower);
  if (version === 4 && lower.startsWith('127.')) return 'a loopback address';
  if (version === 6 && lower === '::1') return 'a loopback address';
  if (version === 4 && lower.startsWith('169.254.')) return 'a link-local address';
  if (version === 6 && /^fe[89ab][0-9a-f]:/.test(lower)) return 'a link-local address';
  if (lower === '0.0.0.0' || lower === '::') return 'the unspecified address';
  const local = Object.values(networkInterfaces()).flatMap((entries) => entries ?? []);
  if (local.some((entry) => entry.address.toLowerCase() === lower)) return 'an address of an interface';
  return null;
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    lookup(host, { all: true }, (error, addresses) => (error ? reject(error) : resolve(addresses.map((entry) => entry.address))));
  });
}
