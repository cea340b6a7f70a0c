import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisLogStream, type LogEntry } from '../../../shared/logs/log-stream.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../../shared/redis/redis-connection.ts';

let folder: string;
let server: EmbeddedRedis;
let redis: Redis;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'slipway-log-stream-'));
  server = await startEmbeddedRedis(folder);
  redis = connectRedis({ socketPath: server.socketPath });
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  await rm(folder, { recursive: true, force: true });
});

async function streamWith(key: string, lines: string[]): Promise<RedisLogStream> {
  const stream = new RedisLogStream(redis, key, 1000);
  for (const line of lines) await stream.append({ time: Date.now(), stream: 'stdout', data: `${line}\n` });
  return stream;
}

async function collect(entries: AsyncGenerator<LogEntry>, count = Number.POSITIVE_INFINITY): Promise<string[]> {
  const lines: string[] = [];
  for await (const entry of entries) {
    lines.push(entry.data.trim());
    if (lines.length >= count) break;
  }
  return lines;
}

describe('log stream', () => {
  it('reads every stored line without a tail', async () => {
    const stream = await streamWith('all', ['a', 'b', 'c']);
    expect(await collect(stream.read({ follow: false }))).toEqual(['a', 'b', 'c']);
  });

  it('reads the last N lines with a tail', async () => {
    const stream = await streamWith('tail-two', ['a', 'b', 'c']);
    expect(await collect(stream.read({ follow: false, tail: 2 }))).toEqual(['b', 'c']);
  });

  it('reads no stored line with a tail of zero', async () => {
    const stream = await streamWith('tail-zero', ['a', 'b']);
    expect(await collect(stream.read({ follow: false, tail: 0 }))).toEqual([]);
  });

  it('follows only new lines with a tail of zero', async () => {
    const stream = await streamWith('follow-new', ['old']);
    const blocking = redis.duplicate();
    const reading = collect(stream.read({ follow: true, tail: 0, blockingClient: blocking }), 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await stream.append({ time: Date.now(), stream: 'stdout', data: 'new\n' });
    expect(await reading).toEqual(['new']);
    blocking.disconnect();
  });

  it('stops following once the log is closed', async () => {
    const stream = await streamWith('closed', ['only']);
    await stream.close('succeeded');
    const blocking = redis.duplicate();
    expect(await collect(stream.read({ follow: true, blockingClient: blocking }))).toEqual(['only']);
    blocking.disconnect();
  });
});
