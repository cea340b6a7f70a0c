import { buildOverDiskLimit } from './build-errors.ts';
import { measureFolderBytes } from './build-limits.ts';
import type { StepProgress } from './build-progress.ts';
import type { BuildSession } from './build-session.ts';
import { LINK_PARENT_KEY, linkedChainKey, stepCacheKey } from './cache/cache-key.ts';
import { StepFilesystem } from './executor/step-filesystem.ts';
import type { EvaluatedStep } from './frontend/index.ts';
import { layerFolders, type StageLayer, type StageState } from './stage-state.ts';

/** What a file step (RUN, COPY, ADD, WORKDIR) does, for runFileStep. */
export interface FileStepWork {
  /**
   * Digest of the step's inputs beyond its text: the files COPY or ADD copies, the files
   * a RUN bind-mounts, the commit of a git source. Part of the cache key.
   */
  sourceChecksum?: string;
  /**
   * `COPY --link`: the step writes into an empty filesystem, so its layer depends only on
   * the step and its sources, not on the layers below it, and stays cached when they change.
   */
  link?: boolean;
  /** Changes the step's mounted filesystem; the changes become the step's layer. */
  execute(filesystem: StepFilesystem): Promise<void>;
}

/**
 * Runs a step that may change files, through the build cache. On a hit the stored
 * layer (or "no layer") is reused without running anything. On a miss (or with
 * `noCache`) the step runs on a fresh overlay of the stage's layers, its changes become
 * a layer when there are any, and the result is recorded under the step's key. The
 * changes count against the build's disk limit.
 */
export async function runFileStep(session: BuildSession, state: StageState, step: EvaluatedStep, progress: StepProgress, work: FileStepWork): Promise<void> {
  const key = stepCacheKey(work.link ? LINK_PARENT_KEY : state.chainKey, step, work.sourceChecksum);
  const chainKey = work.link ? linkedChainKey(state.chainKey, key) : key;
  const cached = session.input.noCache ? null : await session.cache.lookup(key);
  if (cached) {
    applyFileStep(state, step, chainKey, cached.layer, session.timestamp(cached.createdAt));
    progress.cached();
    return;
  }

  let layer: StageLayer | null;
  const lowerDirs = work.link ? [] : await layerFolders(session.deps.layers, state.layers);
  const filesystem = await StepFilesystem.mount(session.stepDir(progress.number), lowerDirs);
  try {
    await work.execute(filesystem);
    await filesystem.unmount();
    const written = await measureFolderBytes(filesystem.upperDir);
    if (session.disk.exceededBy(written)) throw buildOverDiskLimit(session.buildId, step, session.disk.limitBytes);
    session.disk.commit(written);
    layer = await filesystem.commit({ blobs: session.deps.blobs, layers: session.deps.layers, sourceDateEpoch: session.sourceDateEpoch });
  } catch (error) {
    progress.failed();
    throw error;
  } finally {
    await filesystem.dispose();
  }

  const createdAt = new Date();
  await session.cache.record(key, { layer, createdAt });
  applyFileStep(state, step, chainKey, layer, session.timestamp(createdAt));
  session.deps.log.debug({ step: step.line, layer: layer?.descriptor.digest ?? null }, 'build step ran');
  progress.done();
}

/** Adds a step's history entry (and layer, when it made one) and moves the cache chain on. */
function applyFileStep(state: StageState, step: EvaluatedStep, chainKey: string, layer: StageLayer | null, created: string): void {
  if (layer) state.layers.push(layer);
  state.history.push({ created, created_by: step.createdBy, ...(layer ? {} : { empty_layer: true }) });
  state.chainKey = chainKey;
  state.lastCreated = created;
}
