import path from 'node:path';
import { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import { findAppByName, releaseLabel } from '../../shared/apps/app-records.ts';
import { builds, deploys, releases, apps } from '../../shared/db/schema.ts';
import { NotFoundError } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { createDeploy } from '../deploys/create-deploy.ts';
import { receiveContext } from '../deploys/receive-context.ts';
import { parseBuildOptions } from '../deploys/build-options.ts';
import { parseBuildSecrets } from '../deploys/build-secrets.ts';
import { validateDockerfilePath } from '../../shared/build-context/context-paths.ts';
import { appUrl } from '../../shared/config.ts';
import { isUuid } from '../uuid.ts';
import { mayReachOwner } from '../middleware/app-access.ts';

export function deployRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db, config } = deps;
  const routes = new Hono<ApiEnv>();

  // The body is the build context as a tar or tar.gz archive. Query: dockerfile=PATH,
  // build-arg=NAME=value (repeated), target=STAGE, no-cache=true. Build secrets come in
  // Slipway-Build-Secret headers (api/deploys/build-secrets.ts).
  routes.post('/apps/:app/deploys', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const dockerfile = validateDockerfilePath(c.req.query('dockerfile'));
    const options = parseBuildOptions(new URL(c.req.url).searchParams);
    const secrets = parseBuildSecrets(c.req.raw.headers);

    const context = await receiveContext(c.req.raw, path.join(config.dataDir, 'tmp'), config.maxContextBytes);
    try {
      return c.json(await createDeploy(deps, app, context, dockerfile, options, undefined, secrets), 202);
    } finally {
      await context.remove();
    }
  });

  routes.get('/deploys/:id', async (c) => {
    const id = c.req.param('id');
    const [row] = isUuid(id)
      ? await db
          .select({ deploy: deploys, app: apps.name, owner: apps.owner, build: builds, release: releases })
          .from(deploys)
          .innerJoin(apps, eq(apps.id, deploys.appId))
          .leftJoin(builds, eq(builds.id, deploys.buildId))
          .leftJoin(releases, eq(releases.id, deploys.releaseId))
          .where(eq(deploys.id, id))
      : [];
    // Another owner's deploy gets the same 404 as a missing one.
    if (!row || !mayReachOwner(c.get('owner'), row.owner)) throw new NotFoundError('DEPLOY_NOT_FOUND', `Deploy ${JSON.stringify(id)} does not exist.`, { details: { id } });

    return c.json({
      id: row.deploy.id,
      app: row.app,
      status: row.deploy.status,
      build: row.build ? { id: row.build.id, status: row.build.status } : null,
      release: row.release ? { version: releaseLabel(row.release.version), status: row.release.status } : null,
      url: appUrl(config, row.app),
      error: row.deploy.error,
      createdAt: row.deploy.createdAt,
      finishedAt: row.deploy.finishedAt,
    });
  });

  return routes;
}
