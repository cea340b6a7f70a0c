import { Hono } from 'hono';
import { pingDatabase } from '../../shared/db/database.ts';
import { errorMessage } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';

/** How long one dependency may take to answer before the check reports it as down. */
const CHECK_TIMEOUT_MS = 3000;

export function healthRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  // 200 when the API, the database, Redis and the blob store all answer; 503 otherwise,
  // with the failing checks named.
  routes.get('/healthz', async (c) => {
    const checks = {
      database: await check(() => pingDatabase(deps.db)),
      redis: await check(async () => void (await deps.redis.ping())),
      blobStore: await check(() => deps.blobs.ping()),
    };
    const healthy = Object.values(checks).every((result) => result === 'ok');
    return c.json({ status: healthy ? 'ok' : 'unavailable', checks }, healthy ? 200 : 503);
  });

  return routes;
}

async function check(probe: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    return errorMessage(error);
  } finally {
    clearTimeout(timer);
  }
}
