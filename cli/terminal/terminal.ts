/**
 * The CLI's output settings, for the person or program reading it. Live progress (bars,
 * spinners, a redrawn build timeline) only on a terminal; plain lines when stdout is a
 * pipe or a file, or with TERM=dumb; JSON lines with --json. Colour only on a terminal,
 * and never with NO_COLOR set (no-color.org).
 */
export interface Output {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Live, redrawn progress. */
  live: boolean;
  json: boolean;
  color: boolean;
}

export function createOutput(options: { json?: boolean } = {}, stream: Output['stream'] = process.stdout, env: NodeJS.ProcessEnv = process.env): Output {
  const json = options.json ?? false;
  const live = Boolean(stream.isTTY) && !json && env.TERM !== 'dumb';
  return { stream, live, json, color: live && env.NO_COLOR === undefined };
}

/** Returns the width to draw in: the terminal's columns, or 80. */
export function columnsOf(output: Output): number {
  return output.stream.columns && output.stream.columns > 20 ? output.stream.columns : 80;
}

export function writeLine(output: Output, text: string): void {
  output.stream.write(`${text}\n`);
}

/** Writes one JSON value as a line, for --json output. */
export function writeJson(output: Output, value: unknown): void {
  output.stream.write(`${JSON.stringify(value)}\n`);
}

const STYLES = { dim: [2, 22], bold: [1, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;

/** Wraps text in an ANSI style when the output has colour. */
export function style(output: Output, name: keyof typeof STYLES, text: string): string {
  if (!output.color) return text;
  const [on, off] = STYLES[name];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** Cuts text to `width` characters, ending with an ellipsis; ANSI styles must be added after. */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** The braille spinner frames that many CLIs (npm, flyctl) use. */
export const SPINNER_FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Clears the current line and moves to its start. */
export const CLEAR_LINE = '\r\x1b[K';
