import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../logger.ts';
import { runCommand } from '../process/run-command.ts';
import { shiftOwnership } from './id-shift.ts';
import type { IdRange } from './runtime-spec.ts';

const log = createLogger('shifted-layer-cache');

/**
 * Copies of unpacked layers whose owners are moved into one user namespace range, for
 * containers that run in a user namespace. runc 1.1 cannot use idmapped mounts, so the
 * files themselves must belong to the mapped ids. Each layer is copied and shifted once
 * per range, the first time a container in a user namespace needs it. That costs the
 * layer's disk space a second time (less where `cp --reflink` can share blocks) and a
 * walk over its entries. test/integration/isolation/user-namespace.test.ts prints the time.
 *
 * Layout: `<root>/<hostId>-<size>/<name of the layer folder>`. A copy appears there only
 * complete, through a rename, so concurrent callers end with one good folder.
 * TODO: nothing removes the copy of a layer that the layer cache dropped; copies stay
 * until the data folder is cleaned, which costs disk space on hosts that prune layers.
 */
export class ShiftedLayerCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    readonly root: string,
    readonly range: IdRange,
  ) {}

  /** Returns shifted copies of `layerFolders` (unpacked layers, bottom first), in the same order. */
  async ensureLayers(layerFolders: string[]): Promise<string[]> {
    const shifted: string[] = [];
    for (const folder of layerFolders) shifted.push(await this.ensureLayer(folder));
    return shifted;
  }

  /** Returns the shifted copy of one unpacked layer folder, making it first when missing. */
  ensureLayer(layerFolder: string): Promise<string> {
    const target = this.pathFor(layerFolder);
    const running = this.pending.get(target);
    if (running) return running;

    const promise = this.makeOnce(layerFolder, target).finally(() => this.pending.delete(target));
    this.pending.set(target, promise);
    return promise;
  }

  pathFor(layerFolder: string): string {
    return path.join(this.root, `${this.range.hostId}-${this.range.size}`, path.basename(layerFolder));
  }

  private async makeOnce(layerFolder: string, target: string): Promise<string> {
    if ((await stat(target).catch(() => null))?.isDirectory()) return target;

    const started = Date.now();
    const temporary = path.join(path.dirname(target), `.tmp-${randomUUID()}`);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o711 });
    try {
      // cp -a keeps modes, times, links, device nodes (overlay whiteouts) and xattrs such
      // as trusted.overlay.opaque, which Node's fs.cp does not all keep.
      await runCommand('cp', ['-a', '--reflink=auto', '--', layerFolder, temporary]);
      const shifted = await shiftOwnership(temporary, this.range);
      await rename(temporary, target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      });
      log.info({ layer: path.basename(layerFolder), hostId: this.range.hostId, entries: shifted.entries, ms: Date.now() - started }, 'layer shifted');
      return target;
    } finally {
      await rm(temporary, { recursive: true, force: true });
    }
  }
}
