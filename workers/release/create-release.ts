import { eq } from 'drizzle-orm';
import { nextReleaseVersion } from '../../shared/apps/app-records.ts';
import { apps, deploys, releases } from '../../shared/db/schema.ts';
import { errorMessage, SlipwayError } from '../../shared/errors.ts';
import type { WorkerContext } from '../worker-context.ts';

/** Attempts at taking the next version number when another release of the app races us. */
const VERSION_ATTEMPTS = 5;

/**
 * Records release vN of an app for an image (built, pushed, or an earlier release's),
 * with the app's environment as it is now, and sends a runner the job to roll it out.
 * The runner marks the deploy succeeded or failed.
 */
export async function createRelease(
  ctx: Pick<WorkerContext, 'db' | 'runners' | 'log'>,
  input: {
    appId: string;
    buildId: string | null;
    imageDigest: string;
    deployId?: string;
    source?: 'build' | 'image' | 'rollback';
    /** For a rollback: the environment of the release rolled back to, in place of the app's current one. */
    env?: Record<string, string>;
  },
): Promise<string> {
  const [app] = await ctx.db.select().from(apps).where(eq(apps.id, input.appId));
  if (!app) throw new SlipwayError('APP_NOT_FOUND', `App ${input.appId} was deleted before its release.`);

  const release = await insertWithNextVersion(ctx, input.appId, async (version) => {
    const [row] = await ctx.db
      .insert(releases)
      .values({ appId: input.appId, version, buildId: input.buildId, imageDigest: input.imageDigest, source: input.source ?? 'build', env: input.env ?? app.env })
      .returning();
    return row!;
  });
  ctx.log.info({ app: app.name, release: release.version, releaseId: release.id, deployId: input.deployId }, 'release created');

  try {
    const runnerId = await ctx.runners.pickRunner(input.appId);
    if (input.deployId) await ctx.db.update(deploys).set({ status: 'releasing', releaseId: release.id }).where(eq(deploys.id, input.deployId));
    await ctx.runners.send(runnerId, { kind: 'release', appId: input.appId, releaseId: release.id, deployId: input.deployId });
  } catch (error) {
    const failure = { code: error instanceof SlipwayError ? error.code : 'RELEASE_FAILED', message: errorMessage(error) };
    await ctx.db.update(releases).set({ status: 'failed', error: failure }).where(eq(releases.id, release.id));
    if (input.deployId) await ctx.db.update(deploys).set({ status: 'failed', error: failure, finishedAt: new Date() }).where(eq(deploys.id, input.deployId));
    throw error;
  }
  return release.id;
}

async function insertWithNextVersion<T>(ctx: Pick<WorkerContext, 'db'>, appId: string, insert: (version: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    const version = await nextReleaseVersion(ctx.db, appId);
    try {
      return await insert(version);
    } catch (error) {
      // A unique violation on (app, version) means another release took the number.
      const isVersionClash = String((error as { code?: string; cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code) === '23505';
      if (!isVersionClash || attempt >= VERSION_ATTEMPTS) throw error;
    }
  }
}
