import path from 'node:path';
import { parseArgs } from 'node:util';
import { removeAllMachines } from '../../runner/machines/host-cleanup.ts';
import { loadConfig } from '../../shared/config.ts';
import { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import { CliError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';

/** How long the check for a running server waits for a response, in ms. */
const HEALTH_TIMEOUT_MS = 2_000;

export const teardownCommand: Command = {
  summary: "Stop this host's app containers and remove Slipway's mounts, namespaces, bridges and firewall rules",
  options: {},
  usage: [
    'Usage: slipway teardown',
    '',
    'A stopped server leaves its apps running, for the next start to adopt. Run this after',
    'stopping the server to leave nothing of Slipway running on the host: it stops and',
    "removes every container of SLIPWAY_DATA_DIR, unmounts their roots, and removes the",
    "network namespaces, the bridge SLIPWAY_BRIDGE_NAME with the owners' bridges, the",
    'published ports and the firewall chains. Apps, releases, volumes, images and the',
    'database stay: the next start runs apps again, on demand or at once for min above 0.',
    'Needs root, and refuses while the server responds on SLIPWAY_API_PORT.',
  ].join('\n'),

  async run(args) {
    parseArgs({ args, options: {} });
    const config = loadConfig();
    if (process.getuid?.() !== 0) throw new CliError('teardown needs root (it unmounts file systems and removes network devices): run it as root.', ExitCode.usage);

    const host = config.bindAddress === '0.0.0.0' ? '127.0.0.1' : config.bindAddress;
    if (await answers(`http://${host.includes(':') ? `[${host}]` : host}:${config.apiPort}/healthz`)) {
      throw new CliError(`the server is running (its API responds on port ${config.apiPort}): stop it first (Ctrl-C), then run slipway teardown again.`);
    }

    const containers = await removeAllMachines(config.dataDir);
    await new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(config.dataDir, 'network') }).teardown();
    process.stdout.write(
      `Removed ${containers} container${containers === 1 ? '' : 's'} and the bridge ${config.bridgeName} with its owner networks. ` +
        'Apps, releases, volumes and images are kept; the next start runs apps again.\n',
    );
    return ExitCode.ok;
  },
};

async function answers(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    return true;
  } catch {
    return false;
  }
}
