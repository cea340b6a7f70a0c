import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../../../shared/blobs/blob-store.ts';
import { mountOverlay, type OverlayMount } from '../../../shared/container/overlay-mount.ts';
import type { LayerCache } from '../../../shared/layers/layer-cache.ts';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import type { StageLayer } from '../stage-state.ts';

export interface CommitOptions {
  blobs: BlobStore;
  layers: LayerCache;
  /** Clamps the layer's mtimes (reproducible-builds.org SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
}

/**
 * The filesystem one step works on: an overlay of the stage's layers with a fresh upper
 * folder at `<dir>/root`. Every change the step makes lands in `upperDir`, which
 * `commit` turns into a layer. The same mount, never committed, serves as a read-only
 * view of a stage for `COPY --from`. `dispose` unmounts and removes the folder in every
 * case; call it in a `finally`.
 */
export class StepFilesystem {
  readonly root: string;
  readonly upperDir: string;
  private mounted: OverlayMount | undefined;

  private constructor(
    readonly dir: string,
    mounted: OverlayMount,
  ) {
    this.root = mounted.target;
    this.upperDir = path.join(dir, 'upper');
    this.mounted = mounted;
  }

  /** Mounts `lowerDirs` (bottom first) with an empty upper folder; `dir` must not exist yet. */
  static async mount(dir: string, lowerDirs: string[]): Promise<StepFilesystem> {
    await mkdir(dir, { recursive: false });
    try {
      const mounted = await mountOverlay({
        lowerDirs,
        upperDir: path.join(dir, 'upper'),
        workDir: path.join(dir, 'work'),
        target: path.join(dir, 'root'),
      });
      return new StepFilesystem(dir, mounted);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async unmount(): Promise<void> {
    await this.mounted?.unmount();
    this.mounted = undefined;
  }

  /**
   * Unmounts and turns the upper folder into a gzip layer: the blob goes to the blob
   * store and the folder moves into the layer cache, so the layer is never unpacked
   * again on this host. Returns null when the step changed nothing.
   */
  async commit(options: CommitOptions): Promise<StageLayer | null> {
    await this.unmount();
    if ((await readdir(this.upperDir)).length === 0) return null;

    const file = path.join(this.dir, 'layer.tar.gz');
    const written = await writeLayer(this.upperDir, file, { sourceDateEpoch: options.sourceDateEpoch });
    await options.blobs.putFile(file, { expectedDigest: written.digest });
    await rm(file, { force: true });

    const folder = await options.layers.adoptLayer(written.diffId, this.upperDir);
    return {
      descriptor: { mediaType: MediaType.ociLayerGzip, digest: written.digest, size: written.size },
      diffId: written.diffId,
      folder,
    };
  }

  /** Unmounts when still mounted and removes the step folder; safe to call twice. */
  async dispose(): Promise<void> {
    try {
      await this.unmount();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
