import { mkdir } from 'node:fs/promises';
import type { StoredImage } from '../../shared/oci/image-types.ts';
import { BuildSession, type BuildDependencies, type BuildInput } from './build-session.ts';
import { exportImage } from './exporter/image-exporter.ts';
import { parseDockerfile } from './frontend/index.ts';
import { buildStage } from './stage-builder.ts';
import { buildNeededStages } from './stage-scheduler.ts';

export type { BuildDependencies, BuildInput } from './build-session.ts';

export interface BuildResult {
  image: StoredImage;
  /** Messages for the user, such as build args that no ARG declares. */
  warnings: string[];
}

/**
 * Builds a Dockerfile into an OCI image in the image store, as `docker build` does:
 * only the stages the target needs, independent stages in parallel, each step through
 * the build cache, RUN steps in runc containers. Everything the user should see goes to `input.output`; errors are
 * SlipwayErrors that carry the Dockerfile line. Containers, mounts and network sandboxes
 * of the build are gone when it returns or throws; scratch files stay in
 * `deps.workDir` for the caller to remove.
 */
export async function buildImage(input: BuildInput, deps: BuildDependencies): Promise<BuildResult> {
  const plan = parseDockerfile(input.dockerfile, { buildArgs: input.buildArgs, target: input.target });
  const log = deps.log.child({ buildId: input.buildId });
  const session = new BuildSession(input, { ...deps, log }, plan);
  await mkdir(deps.workDir, { recursive: true });
  log.info({ stages: plan.neededStages.length, target: plan.target, noCache: input.noCache ?? false }, 'image build started');

  try {
    await buildNeededStages(session, (stage) => buildStage(session, stage));
    session.throwIfAborted();
  } finally {
    await session.sandboxes.removeAll();
    await session.cache.recordUse();
  }
  const image = await exportImage(session, session.stages.get(plan.target)!);

  log.info({ digest: image.digest, layers: image.manifest.layers.length }, 'image build finished');
  const warnings = plan.warnings.map((warning) => (warning.line === undefined ? warning.message : `line ${warning.line}: ${warning.message}`));
  return { image, warnings };
}
