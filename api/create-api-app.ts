import { Hono } from 'hono';
import type { ApiDeps, ApiEnv } from './api-deps.ts';
import { requireAppAccess } from './middleware/app-access.ts';
import { handleError, handleNotFound } from './middleware/error-handler.ts';
import { requireToken } from './middleware/require-token.ts';
import { appLogRoutes } from './routes/app-log-routes.ts';
import { appRoutes } from './routes/app-routes.ts';
import { appRuntimeRoutes } from './routes/app-runtime-routes.ts';
import { appSettingsRoutes } from './routes/app-settings-routes.ts';
import { buildRoutes } from './routes/build-routes.ts';
import { deployRoutes } from './routes/deploy-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { imageRoutes } from './routes/image-routes.ts';
import { imageReleaseRoutes } from './routes/image-release-routes.ts';
import { tokenRoutes } from './routes/token-routes.ts';
import { registryRoutes } from './registry/registry-app.ts';
import { gitRoutes } from './git/git-http-routes.ts';

/** The API as a hono app; tests call it in process with `app.request`. */
export function createApiApp(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.onError((error, c) => handleError(error, c, deps.log));
  app.notFound(handleNotFound);

  app.route('/', healthRoutes(deps));

  const v1 = new Hono<ApiEnv>();
  v1.use('*', requireToken(deps.db));
  v1.use('/apps/:app', requireAppAccess(deps.db));
  v1.use('/apps/:app/*', requireAppAccess(deps.db));
  v1.route('/tokens', tokenRoutes(deps));
  v1.route('/apps', appRoutes(deps));
  v1.route('/apps', appSettingsRoutes(deps));
  v1.route('/apps', appLogRoutes(deps));
  v1.route('/apps', appRuntimeRoutes(deps));
  v1.route('/', deployRoutes(deps));
  v1.route('/builds', buildRoutes(deps));
  v1.route('/images', imageRoutes(deps));
  v1.route('/apps', imageReleaseRoutes(deps));
  app.route('/v1', v1);
  // The OCI distribution API checks credentials itself (basic and bearer) and returns errors in the spec's format.
  app.route('/v2', registryRoutes(deps));
  // git clients authenticate with basic auth and read text/plain errors, so /git has its own auth and error handler.
  app.route('/git', gitRoutes(deps));

  return app;
}
