/**
 * Events of a build's output, which the build worker writes in BuildKit's plain-progress
 * style: `#3 [2/4] RUN make` starts step 3, `#3 <text>` is a note of it, `#3 CACHED`,
 * `#3 DONE 1.2s` or `#3 ERROR 0.4s` ends it, and any other line is output (a RUN
 * command's, or the worker's own such as `ERROR: ...`).
 */
export type BuildEvent =
  | { type: 'step-start'; id: number; name: string }
  | { type: 'step-end'; id: number; status: StepStatus; seconds: number | null }
  /** A line of output; `step` is the running step it came from, if any. */
  | { type: 'output'; step: number | null; text: string };

export type StepStatus = 'done' | 'cached' | 'error';

const STEP_LINE = /^#(\d+) (.*)$/;
const STEP_END = /^(DONE|ERROR) (\d+(?:\.\d+)?)s$/;

/** Splits build output, which arrives in chunks of any size, into events. */
export class BuildLogParser {
  private pending = '';
  private readonly open = new Set<number>();
  private readonly seen = new Set<number>();
  private running: number | null = null;

  /** Parses a chunk; a line that has not ended yet waits for the next chunk. */
  push(chunk: string): BuildEvent[] {
    this.pending += chunk;
    const lines = this.pending.split('\n');
    this.pending = lines.pop()!;
    return lines.flatMap((line) => this.parseLine(line));
  }

  /** Parses what is left once the output has ended. */
  end(): BuildEvent[] {
    const rest = this.pending;
    this.pending = '';
    return rest ? this.parseLine(rest) : [];
  }

  private parseLine(raw: string): BuildEvent[] {
    // Progress output redraws a line with carriage returns; its last state is what counts.
    const line = raw.split('\r').filter((part) => part !== '').pop() ?? '';
    const match = STEP_LINE.exec(line);
    if (!match) return [{ type: 'output', step: this.running, text: line }];

    const id = Number(match[1]);
    const rest = match[2]!;
    if (!this.seen.has(id)) {
      this.seen.add(id);
      this.open.add(id);
      this.running = id;
      return [{ type: 'step-start', id, name: rest }];
    }

    const end = rest === 'CACHED' ? { status: 'cached' as const, seconds: null } : endOf(rest);
    if (end && this.open.has(id)) {
      this.open.delete(id);
      if (this.running === id) this.running = null;
      return [{ type: 'step-end', id, ...end }];
    }
    return [{ type: 'output', step: id, text: rest }];
  }
}

function endOf(text: string): { status: StepStatus; seconds: number } | null {
  const match = STEP_END.exec(text);
  if (!match) return null;
  return { status: match[1] === 'DONE' ? 'done' : 'error', seconds: Number(match[2]) };
}
