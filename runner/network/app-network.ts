import type { Config } from '../../shared/config.ts';
import type { Database } from '../../shared/db/database.ts';
import type { Logger } from '../../shared/logger.ts';
import type { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import type { NetworkSandbox } from '../../shared/network/network-sandbox.ts';
import { InternalNames } from './internal-names.ts';
import { OwnerNetworks } from './owner-networks.ts';
import { PortPublisher } from './port-publisher.ts';

/** A container's entry in its owner's network, made when the container is created. */
export interface NetworkMember {
  machineId: string;
  appId: string;
  appName: string;
  owner: string;
  ipAddress: string;
  hostsPath: string;
}

/**
 * The app side of the runner's network: owners' private bridges, their `<app>.internal`
 * names and the published ports. A machine joins it when it is created or adopted, is
 * marked serving while it runs, and leaves it when it is destroyed.
 */
export class AppNetwork {
  readonly owners: OwnerNetworks;
  readonly names: InternalNames;
  readonly ports: PortPublisher;
  private readonly members = new Map<string, NetworkMember>();

  constructor(main: BridgeNetwork, config: Pick<Config, 'containerSubnet'>, db: Database, log: Logger) {
    this.owners = new OwnerNetworks(main, config.containerSubnet);
    this.names = new InternalNames(log);
    this.ports = new PortPublisher(db, main.bridgeName, config.containerSubnet, log);
  }

  createSandbox(owner: string, machineId: string): Promise<NetworkSandbox> {
    return this.owners.createSandbox(owner, machineId);
  }

  /** Adds a container that does not serve yet and writes its hosts file with its owner's names. */
  async join(member: NetworkMember, serving = false): Promise<void> {
    this.members.set(member.machineId, { ...member });
    await this.names.upsert({ ...member, serving });
    if (serving) await this.ports.serving({ machineId: member.machineId, appId: member.appId, ipAddress: member.ipAddress, since: Date.now() });
  }

  /** Marks a container as serving or not: its app's name and published ports follow. */
  async setServing(machineId: string, serving: boolean): Promise<void> {
    const member = this.members.get(machineId);
    if (!member) return;
    await this.names.setServing(machineId, serving);
    if (serving) await this.ports.serving({ machineId, appId: member.appId, ipAddress: member.ipAddress, since: Date.now() });
    else await this.ports.stopped(machineId);
  }

  async leave(machineId: string): Promise<void> {
    if (!this.members.delete(machineId)) return;
    await this.names.remove(machineId);
    await this.ports.stopped(machineId);
  }

  async close(): Promise<void> {
    await this.ports.close();
  }
}

const networks = new WeakMap<BridgeNetwork, AppNetwork>();

/**
 * Returns the AppNetwork of a runner, made on first use and kept per main bridge object,
 * so every machine of one runner shares it without another field in the runner's context.
 */
export function appNetworkOf(ctx: { network: BridgeNetwork; config: Pick<Config, 'containerSubnet'>; db: Database; log: Logger }): AppNetwork {
  let network = networks.get(ctx.network);
  if (!network) {
    network = new AppNetwork(ctx.network, ctx.config, ctx.db, ctx.log.child({ part: 'app-network' }));
    networks.set(ctx.network, network);
  }
  return network;
}
