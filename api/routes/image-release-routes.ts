import { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { findAppByName, releaseLabel } from '../../shared/apps/app-records.ts';
import { appUrl } from '../../shared/config.ts';
import { deploys, releases } from '../../shared/db/schema.ts';
import { createRelease } from '../../workers/release/create-release.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { resolveDeployableImage } from '../registry/deployable-image.ts';
import { parseJsonBody } from '../request-body.ts';

const releaseBody = z.object({ image: z.string().min(1) }).strict();

/**
 * Deploys an image without a build: `POST /v1/apps/:app/releases {"image": "<ref>"}`,
 * where `<ref>` is an image pushed to this server's registry (`<api host>/<app>:<tag>` or
 * `@sha256:…`) or one in the image store. It returns 202 with the deploy, whose status
 * `GET /v1/deploys/:id` follows from `releasing` to `succeeded` or `failed`.
 */
export function imageReleaseRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db, config } = deps;
  const routes = new Hono<ApiEnv>();

  routes.post('/:app/releases', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, releaseBody);
    const { reference, image } = await resolveDeployableImage(
      { db, blobs: deps.blobs, images: deps.images, apiPort: config.apiPort },
      body.image,
      c.req.header('host'),
      c.get('owner'),
    );

    const [deploy] = await db.insert(deploys).values({ appId: app.id, status: 'releasing' }).returning();
    const releaseId = await createRelease(deps, { appId: app.id, buildId: null, imageDigest: image.digest, deployId: deploy!.id, source: 'image' });
    const [release] = await db.select({ version: releases.version }).from(releases).where(eq(releases.id, releaseId));
    deps.log.info({ app: app.name, deployId: deploy!.id, reference, digest: image.digest }, 'image deploy started');

    return c.json(
      {
        id: deploy!.id,
        app: app.name,
        status: 'releasing',
        image: { reference, digest: image.digest },
        release: { version: releaseLabel(release!.version), status: 'pending' },
        url: appUrl(config, app.name),
      },
      202,
    );
  });

  return routes;
}
