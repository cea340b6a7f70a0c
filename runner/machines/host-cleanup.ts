import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { unmountOverlay } from '../../shared/container/overlay-mount.ts';
import { Runc } from '../../shared/container/runc.ts';
import { isMachineId } from './machine-paths.ts';

/**
 * Removes every container that a runner with this data folder left running: its runc
 * containers (which also removes their cgroups), overlay mounts and machine folders. A
 * runner that stops leaves its containers running for the next runner process to adopt,
 * so a caller that removes a data folder for good (a test, an uninstall) calls this first. The
 * network sandboxes go with BridgeNetwork.teardown(). Returns how many containers it removed.
 */
export async function removeAllMachines(dataDir: string): Promise<number> {
  const runc = new Runc({ stateDir: path.join(dataDir, 'runc') });
  const containers = await runc.list().catch(() => []);
  for (const container of containers) await runc.delete(container.id, { force: true });

  const machinesDir = path.join(dataDir, 'machines');
  for (const entry of await readdir(machinesDir).catch(() => [] as string[])) {
    if (!isMachineId(entry)) continue;
    await unmountOverlay(path.join(machinesDir, entry, 'rootfs'));
    await rm(path.join(machinesDir, entry), { recursive: true, force: true });
  }
  return containers.length;
}
