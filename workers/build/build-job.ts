import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { eq } from 'drizzle-orm';
import { extractContext } from '../../shared/build-context/extract-context.ts';
import { inspectContextArchive } from '../../shared/build-context/inspect-context.ts';
import { transitionBuild } from '../../shared/builds/build-transitions.ts';
import { apps, builds, deploys, type BuildFailure } from '../../shared/db/schema.ts';
import { errorMessage, isSlipwayError } from '../../shared/errors.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import type { BuildJob } from '../../shared/queue/queue-names.ts';
import { createRelease } from '../release/create-release.ts';
import type { WorkerContext } from '../worker-context.ts';
import { BuildOutput } from './build-output.ts';
import { dropBuildSecrets, takeBuildSecrets } from './build-secrets.ts';
import { buildImage } from './image-builder.ts';

/**
 * Runs one build job: fetches and unpacks the context, builds the image, records the
 * outcome and output, and on success hands a new release to a runner. A failed build
 * fails its deploy, and the app keeps serving its current release.
 */
export async function runBuildJob(ctx: WorkerContext, job: BuildJob): Promise<void> {
  const { db, log: workerLog } = ctx;
  const [build] = await db.select().from(builds).where(eq(builds.id, job.buildId));
  if (!build) {
    workerLog.warn({ buildId: job.buildId }, 'build job for a missing build skipped');
    return;
  }
  if (build.status !== 'queued') {
    // A job that BullMQ hands out again after a worker died mid-build: the half-done
    // build cannot be resumed, so it fails and the user deploys again.
    if (build.status === 'building') await failBuild(ctx, job, { code: 'BUILD_INTERRUPTED', message: 'The build worker stopped during the build; deploy again.' }, null);
    await dropBuildSecrets(ctx.redis, db, job.buildId);
    return;
  }

  const [app] = await db.select().from(apps).where(eq(apps.id, build.appId));
  const log = workerLog.child({ buildId: build.id, deployId: job.deployId, app: app?.name });
  const workDir = path.join(ctx.config.dataDir, 'builds', build.id);
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const output = BuildOutput.inFolder(ctx.redis, build.id, workDir);

  try {
    await transitionBuild(db, build.id, 'building');
    log.info('build started');
    const secrets = await takeBuildSecrets(ctx.redis, db, build.id, build.secretsKey);

    const contextFile = path.join(workDir, 'context.tar');
    await pipeline(await ctx.blobs.get(build.contextDigest as Digest), createWriteStream(contextFile));
    const inspection = await inspectContextArchive(contextFile, { dockerfilePath: build.dockerfile });
    const contextDir = path.join(workDir, 'context');
    await mkdir(contextDir);
    await extractContext(contextFile, contextDir, { dockerignore: inspection.dockerignore });
    await rm(contextFile);

    const { image, warnings } = await buildImage(
      {
        buildId: build.id,
        contextDir,
        dockerfile: inspection.dockerfile,
        buildArgs: build.buildArgs,
        target: build.target ?? undefined,
        noCache: build.noCache,
        secrets,
        owner: app?.owner,
        cacheMountScope: build.appId,
        output,
      },
      { ...ctx.builder, config: ctx.config, db, blobs: ctx.blobs, images: ctx.images, workDir: path.join(workDir, 'steps'), diskLimitBytes: ctx.config.buildDiskBytes, log },
    );
    for (const warning of warnings) output.line(`WARNING: ${warning}`);
    output.line(`Built image ${image.digest}`);

    const logDigest = await output.finish('succeeded', ctx.blobs);
    await transitionBuild(db, build.id, 'succeeded', { imageDigest: image.digest, logDigest });
    log.info({ digest: image.digest }, 'build succeeded');
    await createRelease(ctx, { appId: build.appId, buildId: build.id, imageDigest: image.digest, deployId: job.deployId });
  } catch (error) {
    const failure = describeFailure(error);
    output.line(`ERROR: ${failure.message}`);
    log.warn({ code: failure.code, line: failure.line, err: isSlipwayError(error) && error.kind === 'user' ? failure.message : error }, 'build failed');
    const logDigest = await output.finish('failed', ctx.blobs).catch(() => null);
    await failBuild(ctx, job, failure, logDigest);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function failBuild(ctx: WorkerContext, job: BuildJob, failure: BuildFailure, logDigest: string | null): Promise<void> {
  const [current] = await ctx.db.select({ status: builds.status }).from(builds).where(eq(builds.id, job.buildId));
  if (current && (current.status === 'queued' || current.status === 'building')) {
    await transitionBuild(ctx.db, job.buildId, 'failed', { error: failure, ...(logDigest ? { logDigest } : {}) });
  }
  await ctx.db.update(deploys).set({ status: 'failed', error: { code: failure.code, message: failure.message }, finishedAt: new Date() }).where(eq(deploys.id, job.deployId));
}

function describeFailure(error: unknown): BuildFailure {
  if (!isSlipwayError(error)) return { code: 'BUILD_FAILED', message: `The build failed: ${errorMessage(error)}` };

  const line = typeof error.details.line === 'number' ? error.details.line : undefined;
  const exitCode = typeof error.details.exitCode === 'number' ? error.details.exitCode : undefined;
  return { code: error.code, message: error.message, ...(line !== undefined ? { line } : {}), ...(exitCode !== undefined ? { exitCode } : {}) };
}
