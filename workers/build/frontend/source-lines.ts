import { DockerfileParser } from 'dockerfile-ast';
import { invalidInstruction } from './dockerfile-errors.ts';

/**
 * Reads a Dockerfile into logical instruction lines. dockerfile-ast finds the
 * instructions (comments, line continuations, heredoc bodies, parser directives); each
 * instruction's text is then rebuilt from its physical lines with Docker's rules, since
 * the package's argument accessors differ from Docker on details this frontend needs:
 * its JSON strings drop spaces (`["a b"]` reads as `ab`), its flags are not
 * quote-aware and it does not validate the `escape` directive.
 */

export interface SourceInstruction {
  /** 1-based line of the instruction's first line. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** The instruction as written, one logical line with continuations joined. */
  text: string;
  /**
   * Physical lines that dockerfile-ast counts as part of the instruction after its last
   * continuation line: the bodies of heredocs (`RUN <<EOF`).
   */
  heredocLines: string[];
}

export interface DockerfileSource {
  escapeCharacter: '\\' | '`';
  /** The value of `# syntax=`, recorded for the build log; Slipway always uses its own frontend. */
  syntax?: string;
  instructions: SourceInstruction[];
}

const BYTE_ORDER_MARK = '\uFEFF';

export function readDockerfileSource(input: string): DockerfileSource {
  const text = input.startsWith(BYTE_ORDER_MARK) ? input.slice(1) : input;
  const document = DockerfileParser.parse(text);
  const { escapeCharacter, syntax } = readDirectives(document);
  const physicalLines = text.split(/\r?\n/);

  const instructions = document.getInstructions().map((instruction): SourceInstruction => {
    const range = instruction.getRange();
    const joined = joinPhysicalLines(physicalLines.slice(range.start.line, range.end.line + 1), escapeCharacter);
    return {
      line: range.start.line + 1,
      column: range.start.character + 1,
      text: joined.text,
      heredocLines: joined.remaining.filter((line) => line.trim() !== ''),
    };
  });
  return { escapeCharacter, syntax, instructions };
}

function readDirectives(document: ReturnType<typeof DockerfileParser.parse>): Omit<DockerfileSource, 'instructions'> {
  const seen = new Set<string>();
  let escapeCharacter: '\\' | '`' = '\\';
  let syntax: string | undefined;

  for (const directive of document.getDirectives()) {
    const name = directive.getName().toLowerCase();
    const position = { line: directive.getRange().start.line + 1 };
    if (name !== 'escape' && name !== 'syntax') continue;
    if (seen.has(name)) throw invalidInstruction(position, `the ${name} parser directive is given twice: keep one`);
    seen.add(name);

    const value = directive.getValue();
    if (name === 'syntax') syntax = value;
    else if (value === '\\' || value === '`') escapeCharacter = value;
    else throw invalidInstruction(position, `the escape directive must be \\ or \`, not ${JSON.stringify(value)}`);
  }
  return { escapeCharacter, syntax };
}

/**
 * Joins an instruction's physical lines as Docker does: the first line loses its leading
 * whitespace, comment lines and blank lines inside the instruction are dropped, and an
 * escape character at the end of a line (optionally followed by spaces or tabs) joins
 * the next line directly, keeping that line's leading whitespace.
 */
export function joinPhysicalLines(lines: string[], escapeCharacter: string): { text: string; remaining: string[] } {
  const continuation = new RegExp(`${escapeCharacter === '\\' ? '\\\\' : '`'}[ \\t]*$`);
  let joined = '';

  for (const [index, raw] of lines.entries()) {
    const isFirst = index === 0;
    if (!isFirst && (/^\s*#/.test(raw) || raw.trim() === '')) continue;

    const line = isFirst ? raw.trimStart() : raw;
    if (!continuation.test(line)) return { text: joined + line, remaining: lines.slice(index + 1) };
    joined += line.replace(continuation, '');
  }
  return { text: joined, remaining: [] };
}
