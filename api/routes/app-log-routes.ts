import { Hono } from 'hono';
import { streamText } from 'hono/streaming';
import type { Redis } from 'ioredis';
import { findAppByName } from '../../shared/apps/app-records.ts';
import { ValidationError } from '../../shared/errors.ts';
import { APP_LOG_MAX_ENTRIES, appLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream, type LogEntry } from '../../shared/logs/log-stream.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { pipeLogToResponse } from '../log-response.ts';

export function appLogRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();

  // The app's stdout and stderr: ?follow=true keeps streaming, ?tail=N starts at the
  // last N lines, ?since= leaves out older lines, ?timestamps=true prefixes each line with its time.
  routes.get('/:app/logs', async (c) => {
    const app = await findAppByName(deps.db, c.req.param('app'));
    const follow = c.req.query('follow') === 'true';
    const timestamps = c.req.query('timestamps') === 'true';
    const tail = parseTail(c.req.query('tail'));
    const since = parseSince(c.req.query('since'), Date.now());

    const stream =
      since === undefined
        ? new RedisLogStream(deps.redis, appLogKey(app.id), APP_LOG_MAX_ENTRIES)
        : new LogStreamSince(deps.redis, appLogKey(app.id), APP_LOG_MAX_ENTRIES, since);
    return streamText(c, (output) => pipeLogToResponse(deps.redis, stream, output, { follow, timestamps, tail }));
  });

  return routes;
}

/** A log stream that yields only entries written at or after `since` (ms since the Unix epoch). */
class LogStreamSince extends RedisLogStream {
  constructor(
    redis: Redis,
    key: string,
    maxEntries: number,
    private readonly since: number,
  ) {
    super(redis, key, maxEntries);
  }

  // NOTE: ?tail=N counts from the end of all kept lines, before lines older than `since` are left out.
  override async *read(options: Parameters<RedisLogStream['read']>[0]): AsyncGenerator<LogEntry> {
    for await (const entry of super.read(options)) if (entry.time >= this.since) yield entry;
  }
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads ?since= as `docker logs --since` takes it: a duration before now (`90s`, `10m`,
 * `1h30m`, `2d`), an RFC 3339 time (`2024-05-01T10:00:00Z`), or Unix seconds. Returns
 * milliseconds since the Unix epoch.
 */
export function parseSince(raw: string | undefined, now: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;

  if (/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(raw)) {
    let total = 0;
    for (const [, amount, unit] of raw.matchAll(DURATION_PART)) total += Number(amount) * UNIT_MS[unit!]!;
    return now - total;
  }
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000;
  const time = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(time)) {
    throw new ValidationError(
      'SINCE_INVALID',
      `since=${JSON.stringify(raw)} is invalid: give a duration such as 10m or 1h30m, a time such as 2024-05-01T10:00:00Z, or Unix seconds.`,
    );
  }
  return time;
}

function parseTail(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === 'all') return undefined;

  const tail = Number(raw);
  if (!Number.isSafeInteger(tail) || tail < 0) {
    throw new ValidationError('TAIL_INVALID', `tail=${JSON.stringify(raw)} is invalid: give a whole number of lines, or "all".`);
  }
  return tail;
}
