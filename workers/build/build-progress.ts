import type { BuildOutput } from './build-output.ts';

/**
 * One numbered entry of the build output, in BuildKit's plain-progress style:
 * `#4 [builder 2/5] RUN make`, the step's own output, then `#4 CACHED`, `#4 DONE 1.3s`
 * or `#4 ERROR 1.3s`.
 */
export class StepProgress {
  private readonly startedAt = Date.now();

  constructor(
    private readonly output: BuildOutput,
    readonly number: number,
  ) {}

  static start(output: BuildOutput, number: number, position: string, text: string): StepProgress {
    output.line(`#${number} ${position ? `[${position}] ` : ''}${text}`);
    return new StepProgress(output, number);
  }

  /** Writes a line that belongs to this step, such as `#4 pulling ...`. */
  note(text: string): void {
    this.output.line(`#${this.number} ${text}`);
  }

  cached(): void {
    this.output.line(`#${this.number} CACHED`);
  }

  done(): void {
    this.output.line(`#${this.number} DONE ${this.elapsed()}`);
  }

  /** Marks the step as failed; the build's error message follows from the caller. */
  failed(): void {
    this.output.line(`#${this.number} ERROR ${this.elapsed()}`);
  }

  private elapsed(): string {
    return `${((Date.now() - this.startedAt) / 1000).toFixed(1)}s`;
  }
}

/**
 * Formats the position part of a header: the stage name (when the build has several
 * stages) and the step's place among the stage's FROM and file steps, as BuildKit numbers them.
 */
export function stepPosition(stageLabel: string | undefined, step: number, total: number): string {
  return `${stageLabel ? `${stageLabel} ` : ''}${step}/${total}`;
}
