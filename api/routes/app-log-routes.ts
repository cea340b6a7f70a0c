import { Hono } from 'hono';
import { streamText } from 'hono/streaming';
import { findAppByName } from '../../shared/apps/app-records.ts';
import { ValidationError } from '../../shared/errors.ts';
import { APP_LOG_MAX_ENTRIES, appLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { pipeLogToResponse } from '../log-response.ts';

export function appLogRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  // The app's stdout and stderr: ?follow=true keeps streaming, ?tail=N starts at the
  // last N lines, ?timestamps=true prefixes each line with its time.
  routes.get('/:app/logs', async (c) => {
    const app = await findAppByName(deps.db, c.req.param('app'));
    const follow = c.req.query('follow') === 'true';
    const timestamps = c.req.query('timestamps') === 'true';
    const tail = parseTail(c.req.query('tail'));

    const stream = new RedisLogStream(deps.redis, appLogKey(app.id), APP_LOG_MAX_ENTRIES);
    return streamText(c, (output) => pipeLogToResponse(deps.redis, stream, output, { follow, timestamps, tail }));
  });

  return routes;
}

function parseTail(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === 'all') return undefined;

  const tail = Number(raw);
  if (!Number.isSafeInteger(tail) || tail < 0) {
    throw new ValidationError('TAIL_INVALID', `tail=${JSON.stringify(raw)} is invalid: give a whole number of lines, or "all".`);
  }
  return tail;
}
