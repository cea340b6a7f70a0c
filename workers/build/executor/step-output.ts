import { StringDecoder } from 'node:string_decoder';
import type { BuildSession } from '../build-session.ts';
import { OutputRedactor } from './output-redactor.ts';

type StreamName = 'stdout' | 'stderr';

/**
 * Passes a RUN command's output on to the build output and keeps its last lines for an
 * error message. Secret values the step was given are replaced by `****` first. While
 * several stages of the build run at once, each line is prefixed with the step's
 * number (`#7 `) as BuildKit's plain progress does, so interleaved lines stay readable.
 * Otherwise the output passes through as it arrives.
 */
export class StepOutput {
  private text = '';
  private readonly streams: Record<StreamName, { decoder: StringDecoder; redactor: OutputRedactor; partialLine: string }>;

  constructor(
    private readonly session: BuildSession,
    private readonly stepNumber: number,
    secretValues: readonly Buffer[],
  ) {
    const stream = () => ({ decoder: new StringDecoder('utf8'), redactor: new OutputRedactor(secretValues), partialLine: '' });
    this.streams = { stdout: stream(), stderr: stream() };
  }

  sink(name: StreamName): (chunk: Buffer) => void {
    return (chunk) => {
      const stream = this.streams[name];
      this.emit(name, stream.redactor.write(stream.decoder.write(chunk)));
    };
  }

  /** Writes out what is still held: incomplete UTF-8 characters, held-back text and a last line without newline. */
  flush(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = this.streams[name];
      this.emit(name, stream.redactor.write(stream.decoder.end()) + stream.redactor.end());
      if (stream.partialLine !== '') this.session.output.write(`#${this.stepNumber} ${stream.partialLine}\n`, name);
      stream.partialLine = '';
    }
  }

  /** The last `count` lines of output, both streams together. */
  lines(count: number): string {
    return this.text.trimEnd().split('\n').slice(-count).join('\n');
  }

  private emit(name: StreamName, text: string): void {
    if (text === '') return;
    // Keeps a bounded window: enough for the last lines of any sane output.
    this.text = (this.text + text).slice(-16 * 1024);

    const stream = this.streams[name];
    if (this.session.activeStages <= 1 && stream.partialLine === '') {
      this.session.output.write(text, name);
      return;
    }
    const lines = (stream.partialLine + text).split('\n');
    stream.partialLine = lines.pop()!;
    if (lines.length > 0) this.session.output.write(lines.map((line) => `#${this.stepNumber} ${line}\n`).join(''), name);
  }
}
