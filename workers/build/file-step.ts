import type { StepProgress } from './build-progress.ts';
import type { BuildSession } from './build-session.ts';
import { stepCacheKey } from './cache/cache-key.ts';
import { StepFilesystem } from './executor/step-filesystem.ts';
import type { EvaluatedStep } from './frontend/index.ts';
import { layerFolders, type StageLayer, type StageState } from './stage-state.ts';

/** What a file step (RUN, COPY, ADD, WORKDIR) does, for runFileStep. */
export interface FileStepWork {
  /** For COPY and ADD: the checksum of the source files, part of the cache key. */
  sourceChecksum?: string;
  /** Changes the step's mounted filesystem; the changes become the step's layer. */
  execute(filesystem: StepFilesystem): Promise<void>;
}

/**
 * Runs a step that may change files, through the build cache. On a hit the stored
 * layer (or "no layer") is reused without running anything. On a miss (or with
 * `noCache`) the step runs on a fresh overlay of the stage's layers, its changes become
 * a layer when there are any, and the result is recorded under the step's key.
 */
export async function runFileStep(session: BuildSession, state: StageState, step: EvaluatedStep, progress: StepProgress, work: FileStepWork): Promise<void> {
  const key = stepCacheKey(state.chainKey, step, work.sourceChecksum);
  const cached = session.input.noCache ? null : await session.cache.lookup(key);
  if (cached) {
    const layer = cached.layer && { ...cached.layer, folder: await session.deps.layers.ensureLayer(cached.layer.descriptor, cached.layer.diffId) };
    applyFileStep(state, step, key, layer, session.timestamp(cached.createdAt));
    progress.cached();
    return;
  }

  let layer: StageLayer | null;
  const filesystem = await StepFilesystem.mount(session.stepDir(progress.number), layerFolders(state));
  try {
    await work.execute(filesystem);
    layer = await filesystem.commit({ blobs: session.deps.blobs, layers: session.deps.layers, sourceDateEpoch: session.sourceDateEpoch });
  } catch (error) {
    progress.failed();
    throw error;
  } finally {
    await filesystem.dispose();
  }

  const createdAt = new Date();
  await session.cache.record(key, { layer, createdAt });
  applyFileStep(state, step, key, layer, session.timestamp(createdAt));
  session.deps.log.debug({ step: step.line, layer: layer?.descriptor.digest ?? null }, 'build step ran');
  progress.done();
}

/** Adds a step's history entry (and layer, when it made one) and moves the cache chain on. */
function applyFileStep(state: StageState, step: EvaluatedStep, key: string, layer: StageLayer | null, created: string): void {
  if (layer) state.layers.push(layer);
  state.history.push({ created, created_by: step.createdBy, ...(layer ? {} : { empty_layer: true }) });
  state.chainKey = key;
  state.lastCreated = created;
}
