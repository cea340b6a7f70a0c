import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import { BUILD_LOG_EXPIRE_SECONDS, BUILD_LOG_MAX_ENTRIES, buildLogKey } from '../../shared/logs/log-keys.ts';
import { RedisLogStream } from '../../shared/logs/log-stream.ts';
import type { Digest } from '../../shared/oci/digest.ts';

/**
 * A build's output, the text the user sees: step headers, RUN output, errors. It goes
 * to a Redis stream for live followers and to a local file that becomes a blob when the
 * build ends. Secrets never reach it because nothing here sees them.
 */
export class BuildOutput {
  private readonly stream: RedisLogStream;
  private readonly file: WriteStream;
  private pending: Promise<void> = Promise.resolve();
  private tailLines: string[] = [];

  constructor(
    redis: Redis,
    private readonly buildId: string,
    private readonly filePath: string,
  ) {
    this.stream = new RedisLogStream(redis, buildLogKey(buildId), BUILD_LOG_MAX_ENTRIES);
    this.file = createWriteStream(filePath);
  }

  static inFolder(redis: Redis, buildId: string, folder: string): BuildOutput {
    return new BuildOutput(redis, buildId, path.join(folder, 'build.log'));
  }

  /** Appends text; order is kept across calls without awaiting each one. */
  write(text: string, streamName = 'stdout'): void {
    if (!text) return;
    this.file.write(text);
    this.rememberTail(text);
    const entry = { time: Date.now(), stream: streamName, data: text };
    this.pending = this.pending.then(() => this.stream.append(entry));
  }

  line(text: string): void {
    this.write(`${text}\n`);
  }

  /** The last lines written, for error messages. */
  tail(count: number): string {
    return this.tailLines.slice(-count).join('\n');
  }

  /**
   * Closes the stream for followers and stores the whole output as a blob. Returns
   * the blob's digest.
   */
  async finish(status: string, blobs: BlobStore): Promise<Digest> {
    await this.pending;
    await new Promise<void>((resolve, reject) => this.file.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const stored = await blobs.putFile(this.filePath);
    await this.stream.close(status, BUILD_LOG_EXPIRE_SECONDS);
    await rm(this.filePath, { force: true });
    return stored.digest;
  }

  private rememberTail(text: string): void {
    const lines = text.split('\n');
    if (this.tailLines.length > 0 && lines.length > 0) this.tailLines[this.tailLines.length - 1] += lines.shift()!;
    this.tailLines.push(...lines);
    if (this.tailLines.length > 200) this.tailLines = this.tailLines.slice(-100);
  }
}
