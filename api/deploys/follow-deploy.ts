import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { releaseLabel } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { builds, deploys, releases, type BuildFailure, type DeployStatus } from '../../shared/db/schema.ts';
import { BUILD_LOG_MAX_ENTRIES, buildLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';

export interface DeployOutcome {
  status: Extract<DeployStatus, 'succeeded' | 'failed'> | 'timed-out';
  /** The release label (`v3`) when the deploy got as far as a release. */
  release: string | null;
  error: { code: string; message: string } | null;
  /** The build's failure with its Dockerfile line and exit code, when the build failed. */
  buildError: BuildFailure | null;
}

export interface FollowCallbacks {
  /** Build output as the worker writes it. */
  onBuildOutput(text: string): void;
  /** Called once when the deploy moves on to starting its release. */
  onReleasing(release: string | null): void;
}

const POLL_INTERVAL_MS = 500;
/** How long a release may take to start after its build, beyond which the follower gives up (the deploy itself goes on). */
export const RELEASE_WAIT_MS = 10 * 60_000;

/**
 * Follows a deploy from the API side, as the CLI does from outside: streams its build
 * output while the build runs, then polls the deploy until it has succeeded or failed.
 * Used where the API itself shows a deploy to a user, such as a git push.
 */
export async function followDeploy(deps: { db: Database; redis: Redis }, deployId: string, callbacks: FollowCallbacks): Promise<DeployOutcome> {
  const [deploy] = await deps.db.select().from(deploys).where(eq(deploys.id, deployId));
  if (deploy?.buildId) await streamBuildOutput(deps, deploy.buildId, callbacks.onBuildOutput);

  let announced = false;
  const deadline = Date.now() + RELEASE_WAIT_MS;
  for (;;) {
    const [row] = await deps.db
      .select({ deploy: deploys, release: releases, build: builds })
      .from(deploys)
      .leftJoin(releases, eq(releases.id, deploys.releaseId))
      .leftJoin(builds, eq(builds.id, deploys.buildId))
      .where(eq(deploys.id, deployId));
    if (!row) return { status: 'failed', release: null, error: { code: 'DEPLOY_NOT_FOUND', message: 'The deploy was deleted, with its app.' }, buildError: null };

    const release = row.release ? releaseLabel(row.release.version) : null;
    if (row.deploy.status === 'succeeded' || row.deploy.status === 'failed') {
      return { status: row.deploy.status, release, error: row.deploy.error, buildError: row.build?.error ?? null };
    }
    if (row.deploy.status === 'releasing' && !announced) {
      callbacks.onReleasing(release);
      announced = true;
    }
    if (Date.now() > deadline) return { status: 'timed-out', release, error: null, buildError: null };
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
}

/** How long a finished build's log may stay open before the follower stops reading it. */
const OPEN_LOG_GRACE_MS = 5000;

/**
 * Streams a build's log until the build worker closes it. A worker that died mid-build
 * never closes it, so a watchdog stops reading once the build row has been final for a
 * few seconds. A follower needs a Redis connection of its own, because XREAD BLOCK occupies it.
 */
// NOTE: a build that stays queued (no build worker running) is followed for as long as it stays queued.
async function streamBuildOutput(deps: { db: Database; redis: Redis }, buildId: string, onOutput: (text: string) => void): Promise<void> {
  const blockingClient = deps.redis.duplicate();
  const abort = new AbortController();
  let finalSince: number | null = null;
  const watchdog = setInterval(() => {
    void deps.db
      .select({ status: builds.status })
      .from(builds)
      .where(eq(builds.id, buildId))
      .then(([build]) => {
        const final = !build || build.status === 'succeeded' || build.status === 'failed';
        finalSince = final ? (finalSince ?? Date.now()) : null;
        if (finalSince !== null && Date.now() - finalSince > OPEN_LOG_GRACE_MS) abort.abort();
      }, () => undefined);
  }, 1000);

  try {
    const stream = new RedisLogStream(deps.redis, buildLogKey(buildId), BUILD_LOG_MAX_ENTRIES);
    for await (const entry of stream.read({ follow: true, blockingClient, signal: abort.signal })) onOutput(entry.data);
  } finally {
    clearInterval(watchdog);
    blockingClient.disconnect();
  }
}
