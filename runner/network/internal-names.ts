import { writeFile } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.ts';

/** The suffix of private names: app `db` is `db.internal` for the other apps of its owner. */
export const INTERNAL_DOMAIN = 'internal';

/** A container that takes part in its owner's names: it gets a hosts file, and its app a name once it serves. */
export interface NameMember {
  machineId: string;
  appName: string;
  owner: string;
  ipAddress: string;
  /** The host file bind-mounted read-only at /etc/hosts in the container. */
  hostsPath: string;
  /** Whether the container serves, so its address stands for `<app>.internal`. */
  serving: boolean;
}

/**
 * Keeps `<app>.internal` names current in the /etc/hosts of every container of an owner.
 *
 * Hosts files rather than a DNS server, for four reasons. Every resolver reads /etc/hosts
 * (glibc, musl, Go's, and static binaries without NSS modules). No port 53 needs to be
 * open from containers to the host. Nothing listens on the host. The names keep working
 * while the runner restarts. A name lists every serving container of the app, so a client that
 * tries each address of a name reaches a replica. The runner rewrites an owner's files
 * when one of its containers starts or stops serving; names of other owners are never
 * written into them.
 * NOTE: a file is rewritten in place (the container's bind mount holds its inode), so a
 * lookup during the rewrite can briefly see a shorter file.
 * NOTE: an app stopped for being idle has no address, so its name does not resolve until
 * it starts again; apps that others reach by name should keep `min` at 1 or more.
 */
export class InternalNames {
  private readonly members = new Map<string, NameMember>();
  private readonly writes = new Map<string, Promise<void>>();

  constructor(private readonly log: Logger) {}

  /** Adds or updates a container and rewrites its owner's files. */
  async upsert(member: NameMember): Promise<void> {
    const previous = this.members.get(member.machineId);
    this.members.set(member.machineId, { ...member });
    if (previous && previous.owner !== member.owner) await this.rewrite(previous.owner);
    await this.rewrite(member.owner);
  }

  /** Sets whether a known container serves; does nothing for an unknown one. */
  async setServing(machineId: string, serving: boolean): Promise<void> {
    const member = this.members.get(machineId);
    if (!member || member.serving === serving) return;
    member.serving = serving;
    await this.rewrite(member.owner);
  }

  /** Forgets a container and rewrites the files of the rest of its owner's containers. */
  async remove(machineId: string): Promise<void> {
    const member = this.members.get(machineId);
    if (!member) return;
    this.members.delete(machineId);
    await this.rewrite(member.owner);
  }

  /** Returns the hosts file of one container, as the runner writes it. */
  hostsFor(machineId: string): string | undefined {
    const member = this.members.get(machineId);
    return member ? renderHosts(member, this.namesOf(member.owner)) : undefined;
  }

  /** `<app>.internal` → serving addresses of one owner, sorted by name and address. */
  namesOf(owner: string): Map<string, string[]> {
    const names = new Map<string, string[]>();
    for (const member of this.members.values()) {
      if (member.owner !== owner || !member.serving) continue;
      const name = `${member.appName}.${INTERNAL_DOMAIN}`;
      names.set(name, [...(names.get(name) ?? []), member.ipAddress].sort());
    }
    return new Map([...names].sort(([left], [right]) => left.localeCompare(right)));
  }

  /** Rewrites the hosts files of an owner's containers, one rewrite at a time per owner. */
  private rewrite(owner: string): Promise<void> {
    const previous = this.writes.get(owner) ?? Promise.resolve();
    const next = previous.then(() => this.writeAll(owner));
    this.writes.set(owner, next.catch(() => undefined));
    return next;
  }

  private async writeAll(owner: string): Promise<void> {
    const names = this.namesOf(owner);
    for (const member of this.members.values()) {
      if (member.owner !== owner) continue;
      // A container that is gone between two rewrites has no file to write; that is no error.
      await writeFile(member.hostsPath, renderHosts(member, names), { mode: 0o644 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        this.log.debug({ machineId: member.machineId }, 'hosts file missing');
      });
    }
    this.log.debug({ owner, names: names.size }, 'internal names written');
  }
}

/** Renders a hosts file: the localhost lines Docker writes, the container's own name, then the owner's app names. */
export function renderHosts(member: Pick<NameMember, 'machineId' | 'ipAddress'>, names: Map<string, string[]>): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${member.ipAddress}\t${member.machineId}`];
  for (const [name, addresses] of names) {
    for (const address of addresses) lines.push(`${address}\t${name}`);
  }
  return `${lines.join('\n')}\n`;
}
