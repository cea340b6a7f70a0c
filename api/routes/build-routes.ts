import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { streamText } from 'hono/streaming';
import { eq } from 'drizzle-orm';
import { apps, builds } from '../../shared/db/schema.ts';
import { NotFoundError } from '../../shared/errors.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';
import { BUILD_LOG_MAX_ENTRIES, buildLogKey } from '../../shared/logs/log-keys.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { isUuid } from '../uuid.ts';
import { pipeLogToResponse } from '../log-response.ts';
import { mayReachOwner } from '../middleware/app-access.ts';

export function buildRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db } = deps;
  const routes = new Hono<ApiEnv>();

  // Another owner's build gets the same 404 as a missing one.
  async function findBuild(id: string, owner: string) {
    const [row] = isUuid(id)
      ? await db
          .select({ build: builds, app: apps.name, owner: apps.owner })
          .from(builds)
          .innerJoin(apps, eq(apps.id, builds.appId))
          .where(eq(builds.id, id))
      : [];
    if (!row || !mayReachOwner(owner, row.owner)) throw new NotFoundError('BUILD_NOT_FOUND', `Build ${JSON.stringify(id)} does not exist.`, { details: { id } });
    return row;
  }

  routes.get('/:id', async (c) => {
    const { build, app } = await findBuild(c.req.param('id'), c.get('owner'));
    return c.json({
      id: build.id,
      app,
      status: build.status,
      imageDigest: build.imageDigest,
      dockerfile: build.dockerfile,
      contextDigest: build.contextDigest,
      error: build.error ?? null,
      createdAt: build.createdAt,
      startedAt: build.startedAt,
      finishedAt: build.finishedAt,
    });
  });

  // The build output as plain text; with ?follow=true it streams until the build ends.
  routes.get('/:id/logs', async (c) => {
    const { build } = await findBuild(c.req.param('id'), c.get('owner'));
    const follow = c.req.query('follow') === 'true';

    if (build.logDigest) {
      c.header('Content-Type', 'text/plain; charset=utf-8');
      return c.body(Readable.toWeb(await deps.blobs.get(build.logDigest as Digest)) as ReadableStream);
    }

    const stream = new RedisLogStream(deps.redis, buildLogKey(build.id), BUILD_LOG_MAX_ENTRIES);
    return streamText(c, (output) => pipeLogToResponse(deps.redis, stream, output, { follow, timestamps: false }));
  });

  return routes;
}
