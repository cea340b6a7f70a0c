import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from './api-deps.ts';
import { handleError, handleNotFound } from './middleware/error-handler.ts';
import { requireToken } from './middleware/require-token.ts';
import { appLogRoutes } from './routes/app-log-routes.ts';
import { appRoutes } from './routes/app-routes.ts';
import { appSettingsRoutes } from './routes/app-settings-routes.ts';
import { buildRoutes } from './routes/build-routes.ts';
import { deployRoutes } from './routes/deploy-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { imageRoutes } from './routes/image-routes.ts';

/** The API as a hono app; tests call it in process with `app.request`. */
export function createApiApp(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.onError((error, c) => handleError(error, c, deps.log));
  app.notFound(handleNotFound);

  app.route('/', healthRoutes(deps));

  const v1 = new Hono<ApiEnv>();
  v1.use('*', requireToken(deps.db));
  v1.route('/apps', appRoutes(deps));
  v1.route('/apps', appSettingsRoutes(deps));
  v1.route('/apps', appLogRoutes(deps));
  v1.route('/', deployRoutes(deps));
  v1.route('/builds', buildRoutes(deps));
  v1.route('/images', imageRoutes(deps));
  app.route('/v1', v1);

  return app;
}
