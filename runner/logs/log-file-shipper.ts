import { open, stat, truncate } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.ts';
import type { RedisLogStream } from '../../shared/logs/log-stream.ts';

/** Poll interval of the log files; a line reaches followers at most this late, in ms. */
const POLL_INTERVAL_MS = 200;
/** A log file that grows past this many bytes is emptied once everything in it is shipped. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** A partial line longer than this is shipped as it is, so one endless line cannot grow memory. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * Ships a container's stdout or stderr, which runc writes to an append-only file, to the
 * app's log stream line by line. The file is the container's own output descriptor, so
 * the app keeps writing while the runner restarts; shipping resumes from `offset`.
 */
export class LogFileShipper {
  private offset: number;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly filePath: string,
    private readonly streamName: 'stdout' | 'stderr',
    private readonly target: RedisLogStream,
    private readonly log: Logger,
    startOffset = 0,
  ) {
    this.offset = startOffset;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.shipNewBytes()).catch((error) => this.log.warn({ err: error, file: this.filePath }, 'shipping log lines failed'));
    }, POLL_INTERVAL_MS);
  }

  /** Ships what is left, including a last line without a newline, and stops polling. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.shipNewBytes().catch(() => {});
    if (this.partial) await this.send(this.partial);
    this.partial = '';
  }

  private async shipNewBytes(): Promise<void> {
    const size = (await stat(this.filePath)).size;
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return;

    const file = await open(this.filePath, 'r');
    try {
      const buffer = Buffer.alloc(Math.min(size - this.offset, 1024 * 1024));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      await this.shipText(buffer.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await file.close();
    }

    // TODO: a line that the app writes between the last read and this truncate is lost.
    // A pipe through a small log shim per container would close that window.
    if (this.offset >= MAX_FILE_BYTES && this.offset === (await stat(this.filePath)).size) {
      await truncate(this.filePath, 0);
      this.offset = 0;
    }
  }

  private async shipText(text: string): Promise<void> {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) await this.send(`${line}\n`);
    if (Buffer.byteLength(this.partial) > MAX_LINE_BYTES) {
      await this.send(`${this.partial}\n`);
      this.partial = '';
    }
  }

  private async send(data: string): Promise<void> {
    await this.target.append({ time: Date.now(), stream: this.streamName, data });
  }
}
