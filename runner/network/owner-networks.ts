import type { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import type { NetworkSandbox } from '../../shared/network/network-sandbox.ts';
import { planSubnets, type SubnetPlan } from '../../shared/network/subnet-plan.ts';

/**
 * The private networks of the owners: one bridge per owner, a child of the main bridge,
 * on its own block of the containers' address range (see subnet-plan.ts).
 *
 * A bridge per owner rather than one shared bridge with filtering rules: containers of
 * different owners are then in different layer-2 domains, so no ARP, broadcast or
 * spoofed frame crosses between them. Whatever crosses must be routed by the host, where
 * each bridge's FORWARD chain drops traffic to any interface but an uplink. The
 * separation does not depend on br_netfilter or ebtables being loaded. The cost is a
 * bridge, three iptables chains and one address block per owner that runs apps here.
 */
export class OwnerNetworks {
  private readonly plan: SubnetPlan;
  private readonly networks = new Map<string, Promise<BridgeNetwork>>();

  constructor(
    private readonly main: BridgeNetwork,
    containerSubnet: string,
  ) {
    this.plan = planSubnets(containerSubnet);
  }

  /** Returns the owner's network, making and setting it up on first use. */
  networkFor(owner: string): Promise<BridgeNetwork> {
    let network = this.networks.get(owner);
    if (!network) {
      const blocks = Array.from({ length: this.plan.blockCount - 1 }, (_unused, offset) => ({ index: offset + 1, subnet: this.plan.block(offset + 1) }));
      network = this.main.child(owner, blocks);
      network.catch(() => this.networks.delete(owner));
      this.networks.set(owner, network);
    }
    return network;
  }

  /** Creates a sandbox for a container of `owner` on the owner's bridge. */
  async createSandbox(owner: string, sandboxId: string): Promise<NetworkSandbox> {
    return (await this.networkFor(owner)).createSandbox(sandboxId);
  }
}
