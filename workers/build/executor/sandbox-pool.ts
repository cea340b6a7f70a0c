import type { BridgeNetwork } from '../../../shared/network/bridge-network.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';

/**
 * The network sandboxes of one build. A RUN step takes one and gives it back when its
 * container is gone, so the next step of the build reuses it instead of making a new
 * namespace and veth pair, as BuildKit keeps a pool of network namespaces. Sandboxes are
 * never shared between builds: a step's processes end with its container (its pid
 * namespace goes with its init process), and only steps of the same build, which run
 * the same user's commands, see the namespace afterwards.
 */
export class SandboxPool {
  private readonly idle: NetworkSandbox[] = [];
  private readonly all: NetworkSandbox[] = [];
  private counter = 0;

  constructor(
    private readonly network: BridgeNetwork,
    /** Prefix of the sandbox ids, unique per build. */
    private readonly idPrefix: string,
  ) {}

  /** Returns an idle sandbox of this build, or a new one. */
  async acquire(): Promise<NetworkSandbox> {
    const idle = this.idle.pop();
    if (idle) return idle;
    this.counter += 1;
    const sandbox = await this.network.createSandbox(`${this.idPrefix}-net-${this.counter}`);
    this.all.push(sandbox);
    return sandbox;
  }

  /** Gives a sandbox back once the container that used it is gone. */
  release(sandbox: NetworkSandbox): void {
    this.idle.push(sandbox);
  }

  /** Removes every sandbox of the build; call it when the build ends, whatever happened. */
  async removeAll(): Promise<void> {
    const sandboxes = this.all.splice(0);
    this.idle.length = 0;
    let failure: unknown;
    for (const sandbox of sandboxes) await sandbox.remove().catch((error: unknown) => (failure ??= error));
    if (failure) throw failure;
  }
}
