import { Hono } from 'hono';
import { and, desc, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { AppNotFoundError, findAppByName, releaseLabel } from '../../shared/apps/app-records.ts';
import { validateAppName } from '../../shared/apps/app-name.ts';
import { appUrl } from '../../shared/config.ts';
import { apps, builds, deploys, machines, releases } from '../../shared/db/schema.ts';
import { ConflictError, errorMessage } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';
import { removeRepository } from '../git/git-repositories.ts';
import { parseJsonBody } from '../request-body.ts';

const createAppBody = z.object({ name: z.string() }).strict();

/** How long DELETE waits for the runner to stop the app's containers. */
const STOP_TIMEOUT_MS = 60_000;

export function appRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db, config } = deps;
  const routes = new Hono<ApiEnv>();

  routes.post('/', async (c) => {
    const body = await parseJsonBody(c, createAppBody);
    const name = validateAppName(body.name);

    // The app belongs to the owner of the token that creates it.
    const inserted = await db.insert(apps).values({ name, owner: c.get('owner') }).onConflictDoNothing().returning();
    if (inserted.length === 0) {
      throw new ConflictError('APP_NAME_TAKEN', `App name ${JSON.stringify(name)} is taken: choose another name.`, { details: { name } });
    }
    deps.log.info({ app: name, appId: inserted[0]!.id }, 'app created');
    return c.json({ name, url: appUrl(config, name) }, 201);
  });

  routes.get('/', async (c) => {
    const owner = c.get('owner');
    const rows = (await db.select().from(apps).orderBy(apps.name)).filter((app) => owner === ADMIN_OWNER || app.owner === owner);
    const summaries = await Promise.all(rows.map((app) => describeApp(deps, app)));
    return c.json({ apps: summaries });
  });

  routes.get('/:app', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    return c.json(await describeApp(deps, app));
  });

  routes.delete('/:app', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    await deleteApp(deps, app);
    return c.body(null, 204);
  });

  routes.get('/:app/releases', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const rows = await db
      .select({ release: releases, gitCommit: builds.gitCommit, gitRef: builds.gitRef })
      .from(releases)
      .leftJoin(builds, eq(builds.id, releases.buildId))
      .where(eq(releases.appId, app.id))
      .orderBy(desc(releases.version));
    return c.json({
      releases: rows.map(({ release, gitCommit, gitRef }) => ({
        version: releaseLabel(release.version),
        id: release.id,
        status: release.status,
        current: release.id === app.currentReleaseId,
        source: release.source,
        imageDigest: release.imageDigest,
        buildId: release.buildId,
        // The pushed commit and ref, for a release built from a git push.
        gitCommit,
        gitRef,
        error: release.error,
        createdAt: release.createdAt,
      })),
    });
  });

  return routes;
}

/**
 * Deletes an app with its preview apps and its git repository, and stops their containers.
 * Throws AppNotFoundError when another request deleted it first.
 */
export async function deleteApp(deps: ApiDeps, app: typeof apps.$inferSelect): Promise<void> {
  const { db } = deps;
  for (const preview of await db.select().from(apps).where(eq(apps.parentAppId, app.id))) {
    await deleteApp(deps, preview).catch((error: unknown) => {
      if (!(error instanceof AppNotFoundError)) throw error;
    });
  }

  const appRunners = await deps.runners.runnersOfApp(app.id);
  const deleted = await db.delete(apps).where(eq(apps.id, app.id)).returning({ id: apps.id });
  if (deleted.length === 0) throw new AppNotFoundError(app.name);

  // The rows go first so that no new release of the app can start. Then every runner
  // that ran a container of it stops them. A runner that does not reply removes them
  // at its next reconcile pass, because their app no longer exists.
  for (const runnerId of appRunners) {
    try {
      await deps.runners.call(runnerId, { kind: 'stop-app', appId: app.id, appName: app.name }, STOP_TIMEOUT_MS);
    } catch (error) {
      deps.log.warn({ app: app.name, appId: app.id, runnerId, err: errorMessage(error) }, 'stopping app containers failed');
    }
  }
  await removeRepository(deps.config.dataDir, app.id);
  deps.log.info({ app: app.name, appId: app.id }, 'app deleted');
}

type AppStatus = 'new' | 'deploying' | 'running' | 'starting' | 'stopped' | 'crashed';

/** Describes an app for GET /v1/apps/:app: its URL, status, current release, containers, scale settings and preview apps. */
async function describeApp(deps: ApiDeps, app: typeof apps.$inferSelect) {
  const { db, config } = deps;
  const [current] = app.currentReleaseId ? await db.select().from(releases).where(eq(releases.id, app.currentReleaseId)) : [];
  const appMachines = await db.select().from(machines).where(eq(machines.appId, app.id));
  const [activeDeploy] = await db
    .select({ id: deploys.id })
    .from(deploys)
    .where(and(eq(deploys.appId, app.id), inArray(deploys.status, ['building', 'releasing'])))
    .limit(1);
  const [lastDeploy] = await db
    .select({ id: deploys.id, status: deploys.status, error: deploys.error, createdAt: deploys.createdAt, finishedAt: deploys.finishedAt })
    .from(deploys)
    .where(eq(deploys.appId, app.id))
    .orderBy(desc(deploys.createdAt))
    .limit(1);
  const [parent] = app.parentAppId ? await db.select({ name: apps.name }).from(apps).where(eq(apps.id, app.parentAppId)) : [];
  const previews = await db.select({ name: apps.name, gitBranch: apps.gitBranch }).from(apps).where(eq(apps.parentAppId, app.id)).orderBy(apps.name);

  return {
    name: app.name,
    url: appUrl(config, app.name),
    status: appStatus(current !== undefined, appMachines, activeDeploy !== undefined),
    release: current
      ? { version: releaseLabel(current.version), id: current.id, imageDigest: current.imageDigest, createdAt: current.createdAt }
      : null,
    machines: appMachines.map((machine) => ({
      id: machine.id,
      status: machine.status,
      release: machine.releaseId,
      exitCode: machine.exitCode,
      restarts: machine.restarts,
      // The process's last exit on its own (exit code, reason, last output lines), for a crash loop.
      lastExit: machine.lastExit,
      updatedAt: machine.updatedAt,
    })),
    // The newest deploy, so that an app whose deploys all failed shows the reason.
    lastDeploy: lastDeploy ?? null,
    scale: { min: app.minMachines, max: app.maxMachines, concurrency: app.concurrency, idle_timeout_s: app.idleTimeoutS },
    ports: app.publishedPorts,
    // A preview app names the app and branch it previews; an app lists its preview apps.
    preview: app.parentAppId ? { parent: parent?.name ?? null, branch: app.gitBranch } : null,
    previews: previews.map((preview) => ({ name: preview.name, branch: preview.gitBranch, url: appUrl(config, preview.name) })),
    createdAt: app.createdAt,
  };
}

function appStatus(hasRelease: boolean, appMachines: (typeof machines.$inferSelect)[], deploying: boolean): AppStatus {
  if (appMachines.some((machine) => machine.status === 'running')) return 'running';
  if (deploying) return 'deploying';
  if (appMachines.some((machine) => machine.status === 'starting')) return 'starting';
  if (appMachines.some((machine) => machine.status === 'failed')) return 'crashed';
  return hasRelease ? 'stopped' : 'new';
}
