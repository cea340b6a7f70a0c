import type { Queue } from 'bullmq';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { SpooledFile } from '../../shared/blobs/spool.ts';
import type { Database } from '../../shared/db/database.ts';
import { builds, deploys } from '../../shared/db/schema.ts';
import type { AppRow } from '../../shared/apps/app-records.ts';
import type { Logger } from '../../shared/logger.ts';
import type { BuildJob } from '../../shared/queue/queue-names.ts';
import type { BuildOptions } from './build-options.ts';
import { parseDockerfile } from '../../workers/build/frontend/index.ts';
import { inspectContextArchive } from '../../shared/build-context/inspect-context.ts';
import { sealBuildSecrets, storeBuildSecrets } from '../../workers/build/build-secrets.ts';
import type { Redis } from 'ioredis';

/** The commit a git push built, recorded on the build. */
export interface GitSource {
  commit: string;
  ref: string;
}

export interface CreatedDeploy {
  id: string;
  build: { id: string; status: 'queued' };
}

/**
 * Checks an uploaded context and its Dockerfile, stores the context as a blob and queues
 * its build. Both are checked before anything is stored, so a rejected upload leaves no
 * blob and no row.
 */
export async function createDeploy(
  deps: { db: Database; blobs: BlobStore; buildQueue: Queue<BuildJob>; log: Logger; redis?: Redis },
  app: AppRow,
  context: SpooledFile,
  dockerfile: string,
  options: BuildOptions,
  git?: GitSource,
  secrets: ReadonlyMap<string, Buffer> = new Map(),
): Promise<CreatedDeploy> {
  const inspection = await inspectContextArchive(context.path, { dockerfilePath: dockerfile });
  // Parsing here turns a Dockerfile mistake (an unknown instruction, a missing FROM, an
  // unknown --target) into a 400 naming the line, before anything is stored or queued.
  parseDockerfile(inspection.dockerfile, { buildArgs: options.buildArgs, target: options.target });
  const stored = await deps.blobs.putFile(context.path, { expectedDigest: context.digest });

  if (secrets.size > 0 && !deps.redis) throw new Error('createDeploy got build secrets but no Redis connection to pass them to the worker');
  const sealed = secrets.size > 0 ? sealBuildSecrets(secrets) : undefined;
  const { build, deploy } = await deps.db.transaction(async (tx) => {
    const [build] = await tx
      .insert(builds)
      .values({
        appId: app.id,
        contextDigest: stored.digest,
        contextSize: stored.size,
        dockerfile,
        ...options,
        secretsKey: sealed?.key,
        gitCommit: git?.commit,
        gitRef: git?.ref,
      })
      .returning();
    const [deploy] = await tx.insert(deploys).values({ appId: app.id, buildId: build!.id }).returning();
    return { build: build!, deploy: deploy! };
  });

  // The secrets are stored before the job exists, so the worker always finds them (workers/build/build-secrets.ts).
  if (sealed) await storeBuildSecrets(deps.redis!, build.id, sealed.sealed);
  await deps.buildQueue.add('build', { buildId: build.id, deployId: deploy.id }, { jobId: build.id, removeOnComplete: 1000, removeOnFail: 1000 });
  deps.log.info({ app: app.name, appId: app.id, deployId: deploy.id, buildId: build.id, context: stored.digest, bytes: stored.size, gitCommit: git?.commit }, 'build queued');
  return { id: deploy.id, build: { id: build.id, status: 'queued' } };
}
