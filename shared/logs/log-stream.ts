import type { Redis } from 'ioredis';

/**
 * An append-only log on a Redis stream: producers add entries, readers get the entries
 * stored so far and, when following, block for new ones. A `done` entry closes it.
 * Entries are `{ t: <ms since epoch>, s: <stream name such as stdout>, d: <text> }`.
 */
export interface LogEntry {
  time: number;
  stream: string;
  data: string;
}

const DONE_FIELD = 'done';

export class RedisLogStream {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    /** Approximate number of entries kept; older ones are trimmed. */
    private readonly maxEntries: number,
  ) {}

  async append(entry: LogEntry): Promise<void> {
    await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxEntries), '*', 't', String(entry.time), 's', entry.stream, 'd', entry.data);
  }

  /** Marks the log complete; followers stop after reading up to here. */
  async close(status: string, expireSeconds?: number): Promise<void> {
    await this.redis.xadd(this.key, 'MAXLEN', '~', String(this.maxEntries), '*', DONE_FIELD, status);
    if (expireSeconds) await this.redis.expire(this.key, expireSeconds);
  }

  /**
   * Yields stored entries, then, with `follow`, new ones as they arrive until the log is
   * closed or `signal` aborts. A follower needs a connection of its own because XREAD
   * BLOCK holds it; pass one made with `redis.duplicate()` and close it afterwards.
   */
  async *read(options: { follow: boolean; signal?: AbortSignal; tail?: number; blockingClient?: Redis }): AsyncGenerator<LogEntry> {
    let lastId = '0-0';
    if (options.tail === 0) {
      // Nothing stored is wanted: start after the newest entry.
      const newest = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
      lastId = newest[0]?.[0] ?? '0-0';
    } else if (options.tail !== undefined) {
      const recent = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', options.tail);
      lastId = recent.length > 0 ? decrementId(recent[recent.length - 1]![0]) : '0-0';
    }

    const client = options.blockingClient ?? this.redis;
    while (!options.signal?.aborted) {
      const response = options.follow
        ? await client.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', this.key, lastId)
        : await client.xread('COUNT', 500, 'STREAMS', this.key, lastId);
      const entries = response?.[0]?.[1] ?? [];
      if (entries.length === 0 && !options.follow) return;

      for (const [id, fields] of entries) {
        lastId = id;
        const values = fieldsToRecord(fields);
        if (values[DONE_FIELD] !== undefined) return;
        yield { time: Number(values.t), stream: values.s ?? 'stdout', data: values.d ?? '' };
      }
    }
  }

  /** Whether the log has been closed. */
  async isClosed(): Promise<boolean> {
    const last = await this.redis.xrevrange(this.key, '+', '-', 'COUNT', 1);
    const fields = last[0]?.[1];
    return fields ? fieldsToRecord(fields)[DONE_FIELD] !== undefined : false;
  }
}

function fieldsToRecord(fields: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) record[fields[i]!] = fields[i + 1]!;
  return record;
}

/** The stream id just before `id`, so that XREAD from it returns `id` itself. */
function decrementId(id: string): string {
  const [ms, seq] = id.split('-').map(Number) as [number, number];
  return seq > 0 ? `${ms}-${seq - 1}` : `${ms - 1}-18446744073709551615`;
}
