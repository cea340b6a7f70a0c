import { formatSeconds } from '../output.ts';
import { BuildLogParser, type BuildEvent, type StepStatus } from './build-log-parser.ts';
import { columnsOf, SPINNER_FRAMES, style, truncate, writeJson, writeLine, type Output } from './terminal.ts';

interface Step {
  id: number;
  name: string;
  startedAt: number;
  status: StepStatus | 'running';
  seconds: number | null;
  /** The step's last lines of output, for the live view and for an error. */
  tail: string[];
}

/** Lines of a running step shown under it on a terminal. */
const LIVE_TAIL_LINES = 4;
/** Lines of a failed step's output printed under it. */
const ERROR_TAIL_LINES = 20;
const KEPT_LINES = 50;
const REDRAW_MS = 100;

/**
 * Shows a build's output as it arrives. On a terminal it is a timeline: one line per
 * step with a spinner and the step's last lines while it runs, then a check mark, the
 * step and its time (or CACHED); a failed step keeps its last 20 lines of output.
 * Elsewhere the output is printed as it came, and with --json each step end and each
 * output line is a JSON object. `finish` prints a summary line.
 */
export class BuildTimeline {
  private readonly parser = new BuildLogParser();
  private readonly steps = new Map<number, Step>();
  private readonly startedAt = Date.now();
  private liveLines = 0;
  private frame = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly output: Output) {
    if (output.live) {
      this.timer = setInterval(() => this.redraw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  write(chunk: string): void {
    if (!this.output.live && !this.output.json) this.output.stream.write(chunk);
    this.handle(this.parser.push(chunk));
  }

  /** Ends the timeline with `Build finished in 12.3s: 5 steps, 3 cached`, or `Build failed ...`. */
  finish(succeeded: boolean): void {
    this.handle(this.parser.end());
    if (this.timer) clearInterval(this.timer);
    this.clearLive();

    const steps = [...this.steps.values()];
    const cached = steps.filter((step) => step.status === 'cached').length;
    const seconds = (Date.now() - this.startedAt) / 1000;
    if (this.output.json) {
      writeJson(this.output, { type: 'build', status: succeeded ? 'succeeded' : 'failed', steps: steps.length, cached, seconds });
      return;
    }
    const summary = `${succeeded ? 'Build finished' : 'Build failed'} in ${formatSeconds(seconds)}: ${steps.length} steps, ${cached} cached`;
    writeLine(this.output, style(this.output, succeeded ? 'bold' : 'red', summary));
  }

  private handle(events: BuildEvent[]): void {
    for (const event of events) {
      if (event.type === 'step-start') {
        this.steps.set(event.id, { id: event.id, name: event.name, startedAt: Date.now(), status: 'running', seconds: null, tail: [] });
      } else if (event.type === 'step-end') {
        this.endStep(event.id, event.status, event.seconds);
      } else {
        this.outputLine(event.step, event.text);
      }
    }
    this.redraw();
  }

  private endStep(id: number, status: StepStatus, seconds: number | null): void {
    const step = this.steps.get(id);
    if (!step) return;
    step.status = status;
    step.seconds = seconds;
    if (this.output.json) {
      writeJson(this.output, { type: 'step', id, name: step.name, status, seconds });
      return;
    }
    if (!this.output.live) return;

    this.clearLive();
    writeLine(this.output, this.stepLine(step));
    if (status === 'error') for (const line of step.tail.slice(-ERROR_TAIL_LINES)) writeLine(this.output, style(this.output, 'dim', `    │ ${line}`));
  }

  private outputLine(stepId: number | null, text: string): void {
    const step = stepId === null ? undefined : this.steps.get(stepId);
    if (step) {
      step.tail.push(text);
      if (step.tail.length > KEPT_LINES) step.tail.splice(0, step.tail.length - KEPT_LINES);
    }
    if (this.output.json) writeJson(this.output, { type: 'log', step: stepId, text });
    else if (this.output.live && !step) {
      this.clearLive();
      writeLine(this.output, text.startsWith('ERROR') ? style(this.output, 'red', text) : text);
    }
  }

  private stepLine(step: Step): string {
    const width = columnsOf(this.output);
    const time = step.status === 'cached' ? 'CACHED' : formatSeconds(step.seconds ?? (Date.now() - step.startedAt) / 1000);
    const name = truncate(step.name, width - time.length - 5).padEnd(width - time.length - 5);
    const mark =
      step.status === 'running' ? style(this.output, 'cyan', SPINNER_FRAMES[this.frame]!)
      : step.status === 'error' ? style(this.output, 'red', '✘')
      : style(this.output, 'green', '✔');
    return `${mark} ${name}  ${style(this.output, step.status === 'cached' ? 'dim' : 'bold', time)}`;
  }

  /** Draws the running steps and their last lines below everything printed so far, replacing the previous drawing. */
  private redraw(): void {
    if (!this.output.live) return;
    this.frame = (this.frame + 1) % SPINNER_FRAMES.length;
    const width = columnsOf(this.output);
    const lines: string[] = [];
    for (const step of this.steps.values()) {
      if (step.status !== 'running') continue;
      lines.push(this.stepLine(step));
      for (const line of step.tail.slice(-LIVE_TAIL_LINES)) lines.push(style(this.output, 'dim', `    │ ${truncate(line, width - 7)}`));
    }
    this.clearLive();
    if (lines.length > 0) this.output.stream.write(`${lines.join('\n')}\n`);
    this.liveLines = lines.length;
  }

  private clearLive(): void {
    if (this.liveLines === 0) return;
    // Moves up over the drawn lines and clears to the end of the screen.
    this.output.stream.write(`\x1b[${this.liveLines}A\r\x1b[J`);
    this.liveLines = 0;
  }
}
