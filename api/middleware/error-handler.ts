import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isSlipwayError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';

/**
 * Turns any error thrown by a route into `{ error: { code, message, ...details } }`.
 * User errors keep their message; a system error is logged with its cause and the
 * client gets its code and message without internals such as stack traces.
 */
export function handleError(error: Error, c: Context, log: Logger): Response {
  if (isSlipwayError(error)) {
    if (error.kind === 'system') log.error({ err: error, path: c.req.path }, 'request failed');
    return c.json(
      { error: { code: error.code, message: error.message, ...error.details } },
      error.status as ContentfulStatusCode,
    );
  }
  if (error instanceof HTTPException) {
    return c.json({ error: { code: 'HTTP_ERROR', message: error.message } }, error.status);
  }

  log.error({ err: error, path: c.req.path }, 'request failed');
  return c.json({ error: { code: 'INTERNAL_ERROR', message: 'The server failed to handle the request; see its log.' } }, 500);
}

export function handleNotFound(c: Context): Response {
  return c.json(
    { error: { code: 'ROUTE_NOT_FOUND', message: `No route for ${c.req.method} ${c.req.path}; see the README for the API.` } },
    404,
  );
}
