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
  deps: { db: Database; blobs: BlobStore; buildQueue: Queue<BuildJob>; log: Logger },
  app: AppRow,
  context: SpooledFile,
  dockerfile: string,
  options: BuildOptions,
): Promise<CreatedDeploy> {
  const inspection = await inspectContextArchive(context.path, { dockerfilePath: dockerfile });
  // Parsing here turns a Dockerfile mistake (an unknown instruction, a missing FROM, an
  // unknown --target) into a 400 naming the line, before anything is stored or queued.
  parseDockerfile(inspection.dockerfile, { buildArgs: options.buildArgs, target: options.target });
  const stored = await deps.blobs.putFile(context.path, { expectedDigest: context.digest });

  const { build, deploy } = await deps.db.transaction(async (tx) => {
    const [build] = await tx
      .insert(builds)
      .values({ appId: app.id, contextDigest: stored.digest, contextSize: stored.size, dockerfile, ...options })
      .returning();
    const [deploy] = await tx.insert(deploys).values({ appId: app.id, buildId: build!.id }).returning();
    return { build: build!, deploy: deploy! };
  });

  await deps.buildQueue.add('build', { buildId: build.id, deployId: deploy.id }, { jobId: build.id, removeOnComplete: 1000, removeOnFail: 1000 });
  deps.log.info({ app: app.name, appId: app.id, deployId: deploy.id, buildId: build.id, context: stored.digest, bytes: stored.size }, 'build queued');
  return { id: deploy.id, build: { id: build.id, status: 'queued' } };
}
