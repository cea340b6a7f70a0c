import { formatSeconds } from '../output.ts';
import { CLEAR_LINE, SPINNER_FRAMES, style, truncate, columnsOf, writeLine, type Output } from './terminal.ts';

const FRAME_MS = 80;

/**
 * A one-line activity indicator with the seconds elapsed: `⠹ Starting v3 (4s)`. On a
 * terminal it redraws in place; elsewhere it prints the text once as a line, and the
 * final line when it stops. With --json it prints nothing.
 */
export class Spinner {
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  private startedAt = Date.now();
  private text = '';

  constructor(private readonly output: Output) {}

  start(text: string): void {
    this.text = text;
    this.startedAt = Date.now();
    if (this.output.json) return;
    if (!this.output.live) {
      writeLine(this.output, `${text}...`);
      return;
    }
    this.draw();
    this.timer ??= setInterval(() => this.draw(), FRAME_MS);
  }

  /** Replaces the text, keeping the clock running. */
  update(text: string): void {
    if (text === this.text) return;
    this.text = text;
    if (!this.output.live && !this.output.json) writeLine(this.output, `${text}...`);
  }

  /** Stops and leaves `finalLine` (if any) in place of the spinner. */
  stop(finalLine?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.output.json) return;
    if (this.output.live) this.output.stream.write(CLEAR_LINE);
    if (finalLine) writeLine(this.output, finalLine);
  }

  /** Seconds since start, for the final line. */
  elapsedSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  private draw(): void {
    this.frame = (this.frame + 1) % SPINNER_FRAMES.length;
    const elapsed = style(this.output, 'dim', `(${formatSeconds(this.elapsedSeconds(), 0)})`);
    const text = truncate(this.text, columnsOf(this.output) - 12);
    this.output.stream.write(`${CLEAR_LINE}${style(this.output, 'cyan', SPINNER_FRAMES[this.frame]!)} ${text} ${elapsed}`);
  }
}
