import { formatBytes, formatSeconds } from '../output.ts';
import { CLEAR_LINE, columnsOf, writeLine, type Output } from './terminal.ts';

const REDRAW_MS = 100;

/**
 * A transfer's progress in bytes: on a terminal a bar redrawn in place,
 * `Uploading [=======>      ] 12.3 MiB / 40.0 MiB  5.1 MiB/s`; elsewhere a start line and
 * a summary line. With --json nothing is printed here; the caller reports the total.
 */
export class ProgressBar {
  private readonly startedAt = Date.now();
  private lastDrawn = 0;
  private bytes = 0;

  constructor(
    private readonly output: Output,
    private readonly label: string,
    private readonly total: number,
  ) {
    if (!output.live && !output.json) writeLine(output, `${label} ${formatBytes(total)}...`);
  }

  update(bytes: number): void {
    this.bytes = bytes;
    const now = Date.now();
    if (!this.output.live || now - this.lastDrawn < REDRAW_MS) return;
    this.lastDrawn = now;
    this.output.stream.write(`${CLEAR_LINE}${this.line(now)}`);
  }

  /** Ends the bar with a summary: `Uploaded 40.0 MiB in 3.1s (12.9 MiB/s)`. */
  finish(doneLabel: string): void {
    if (this.output.json) return;
    const seconds = this.seconds(Date.now());
    if (this.output.live) this.output.stream.write(CLEAR_LINE);
    writeLine(this.output, `${doneLabel} ${formatBytes(this.bytes)} in ${formatSeconds(seconds)} (${formatBytes(this.bytes / seconds)}/s)`);
  }

  private line(now: number): string {
    const seconds = this.seconds(now);
    const fraction = this.total > 0 ? Math.min(this.bytes / this.total, 1) : 1;
    const figures = `${formatBytes(this.bytes)} / ${formatBytes(this.total)}  ${formatBytes(this.bytes / seconds)}/s`;
    const width = Math.max(10, Math.min(40, columnsOf(this.output) - this.label.length - figures.length - 6));
    const filled = Math.round(fraction * width);
    const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (fraction < 1 ? '>' : '=') : ''}${' '.repeat(width - filled)}`;
    return `${this.label} [${bar}] ${figures}`;
  }

  private seconds(now: number): number {
    return Math.max((now - this.startedAt) / 1000, 0.001);
  }
}
