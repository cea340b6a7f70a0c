import type { LayerCache } from '../../shared/layers/layer-cache.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import type { Descriptor, HistoryEntry } from '../../shared/oci/image-types.ts';
import type { StageConfig, StageStart } from './frontend/index.ts';

/** A layer of a stage: its blob, its diff_id and where it is unpacked in the layer cache. */
export interface StageLayer {
  descriptor: Descriptor;
  diffId: Digest;
  /**
   * The layer's folder in the layer cache, in overlayfs form, once known. Layers that a
   * build takes from its cache or a base image are unpacked only when a step needs their
   * files, so a build whose steps all hit the cache unpacks nothing.
   */
  folder?: string;
}

/**
 * The filesystem and history of a stage as its steps run. Each file step adds a layer
 * (or none when it changed nothing) and moves the cache chain on.
 */
export interface StageState {
  /** Bottom layer first, the base's layers included. */
  layers: StageLayer[];
  /** The base's history, then one entry per instruction. */
  history: HistoryEntry[];
  /**
   * The cache key of the last file step, or the base's identity before the first one:
   * the base image's manifest digest, `scratch`, or the base stage's chain key.
   */
  chainKey: string;
  /** ISO time of the last change, used as `created` by the history entries that follow. */
  lastCreated?: string;
}

/** What a finished stage leaves for later stages (`FROM <stage>`, `COPY --from=<stage>`) and the exporter. */
export interface StageResult {
  index: number;
  state: StageState;
  config: StageConfig;
  author?: string;
  /** The evaluator's snapshot, which a stage based on this one starts from. */
  start: StageStart;
}

/** Returns the folders of the layers, bottom first, unpacking the ones not in the layer cache yet. */
export async function layerFolders(cache: LayerCache, layers: readonly StageLayer[]): Promise<string[]> {
  const folders: string[] = [];
  for (const layer of layers) {
    layer.folder ??= await cache.ensureLayer(layer.descriptor, layer.diffId);
    folders.push(layer.folder);
  }
  return folders;
}

export function copyState(state: StageState): StageState {
  return { layers: [...state.layers], history: state.history.map((entry) => ({ ...entry })), chainKey: state.chainKey, lastCreated: state.lastCreated };
}
