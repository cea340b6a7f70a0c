import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.ts';
import type { RedisLogStream } from '../../shared/logs/log-stream.ts';
import { runCommand } from '../../shared/process/run-command.ts';

/** Poll interval of the log files; a line reaches followers at most this late, in ms. */
const POLL_INTERVAL_MS = 200;
/** Shipped bytes are freed from disk once this many have piled up, so a log file uses at most about this much disk. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** A partial line longer than this is shipped as it is, so one endless line cannot grow memory. */
const MAX_LINE_BYTES = 64 * 1024;
/** Bytes read per file read, and reads per poll, so a chatty app cannot hold the shipper for long. */
const READ_CHUNK_BYTES = 1024 * 1024;
const MAX_READS_PER_POLL = 8;

export type OutputStreamName = 'stdout' | 'stderr';

/**
 * Ships a container's stdout or stderr, which runc writes to an append-only file, to the
 * app's log stream line by line. The file is the container's own output descriptor, so
 * the app keeps writing while the runner restarts. The shipped offset is saved in
 * `offsetFile`, and a new shipper for the same file resumes there.
 *
 * Disk use stays bounded without losing lines: instead of truncating the file, which would
 * drop what the app writes between the last read and the truncate, the shipper punches a
 * hole (fallocate(2) FALLOC_FL_PUNCH_HOLE) over the bytes it has shipped. The file keeps its
 * length and offsets stay valid, but those blocks are freed. ext4, xfs, btrfs and tmpfs
 * support it.
 */
export class LogFileShipper {
  private offset = 0;
  /** Offset up to which disk blocks have been freed. */
  private freedUpTo = 0;
  /** Bytes after the last newline, not shipped yet; kept as bytes so a character split across reads stays whole. */
  private partial: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly filePath: string,
    private readonly offsetFile: string,
    private readonly streamName: OutputStreamName,
    private readonly target: RedisLogStream,
    private readonly log: Logger,
    /** Called with each shipped line, for the machine's recent output. */
    private readonly onLine: (stream: OutputStreamName, line: string) => void = () => undefined,
  ) {}

  /** Reads the saved offset, then starts polling. */
  async start(): Promise<void> {
    const saved = Number((await readFile(this.offsetFile, 'utf8').catch(() => '0')).trim());
    this.offset = Number.isSafeInteger(saved) && saved > 0 ? saved : 0;
    this.freedUpTo = this.offset;
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.poll(), POLL_INTERVAL_MS);
  }

  /** Ships what the file has now; resolves once it is in the stream. */
  flush(): Promise<void> {
    return this.poll();
  }

  /**
   * Ships what the file has and stops polling. With `final` (the container has ended), a
   * last line without a newline is shipped too. Otherwise that line is left for the
   * shipper that resumes from the saved offset after a runner restart.
   */
  async stop(options: { final: boolean }): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
    if (!options.final || this.partial.length === 0) return;
    await this.send(this.partial.toString('utf8'));
    this.partial = Buffer.alloc(0);
    await this.saveOffset().catch(() => undefined);
  }

  private poll(): Promise<void> {
    this.running = this.running.then(() => this.shipNewBytes()).catch((error) => this.log.warn({ err: error, file: this.filePath }, 'shipping log lines failed'));
    return this.running;
  }

  private async shipNewBytes(): Promise<void> {
    const size = (await stat(this.filePath).catch(() => null))?.size;
    if (size === undefined) return;
    if (size < this.offset) {
      // Only a new file is shorter than what was shipped: start it from the beginning.
      this.offset = 0;
      this.freedUpTo = 0;
      this.partial = Buffer.alloc(0);
    }
    if (size === this.offset) return;

    const file = await open(this.filePath, 'r');
    try {
      for (let reads = 0; reads < MAX_READS_PER_POLL && this.offset < size; reads += 1) {
        const buffer = Buffer.alloc(Math.min(size - this.offset, READ_CHUNK_BYTES));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        await this.shipBytes(buffer.subarray(0, bytesRead));
      }
    } finally {
      await file.close();
    }
    await this.saveOffset();
    if (this.shippedOffset() - this.freedUpTo >= MAX_FILE_BYTES) await this.freeShippedBytes();
  }

  /**
   * Saves the offset of the first byte not shipped (the start of the partial line) through
   * a rename, so a crash leaves the old offset or the new one, never a torn one.
   * NOTE: lines shipped after the last save are shipped again when the runner dies before
   * the next save, so a crash can repeat up to one poll's lines. A clean stop repeats none.
   */
  private async saveOffset(): Promise<void> {
    const temporary = `${this.offsetFile}.tmp`;
    await writeFile(temporary, String(this.shippedOffset()));
    await rename(temporary, this.offsetFile);
  }

  /** Offset of the first byte that is not in the stream yet. */
  private shippedOffset(): number {
    return this.offset - this.partial.length;
  }

  private async freeShippedBytes(): Promise<void> {
    const end = this.shippedOffset();
    try {
      await runCommand('fallocate', ['--punch-hole', '--offset', '0', '--length', String(end), this.filePath]);
      this.freedUpTo = end;
    } catch (error) {
      // TODO: on a file system without hole punching the file grows until the machine is
      // destroyed. A pipe through a log shim per container would bound it there too.
      this.log.warn({ err: error, file: this.filePath }, 'freeing shipped log bytes failed');
      this.freedUpTo = end;
    }
  }

  private async shipBytes(bytes: Buffer): Promise<void> {
    let data = this.partial.length > 0 ? Buffer.concat([this.partial, bytes]) : bytes;
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a)) {
      await this.send(data.subarray(0, newline + 1).toString('utf8'));
      data = data.subarray(newline + 1);
    }
    this.partial = Buffer.from(data);
    if (this.partial.length > MAX_LINE_BYTES) {
      await this.send(`${this.partial.toString('utf8')}\n`);
      this.partial = Buffer.alloc(0);
    }
  }

  private async send(data: string): Promise<void> {
    await this.target.append({ time: Date.now(), stream: this.streamName, data });
    this.onLine(this.streamName, data.replace(/\n$/, ''));
  }
}
