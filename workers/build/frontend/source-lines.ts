import { invalidInstruction, unsupportedFeature } from './dockerfile-errors.ts';
import { findHeredocMarkers, HEREDOC_KEYWORDS, type Heredoc } from './heredoc.ts';
import { extractFlags, isJsonArrayText } from './line-parsers.ts';

/**
 * Reads a Dockerfile into logical instruction lines with the rules of BuildKit's parser
 * (moby/buildkit frontend/dockerfile/parser): parser directives at the top, comment
 * lines, continuation lines joined with the escape character, and the bodies of
 * here-documents. It is written here rather than taken from dockerfile-ast because that
 * package reads `3<<EOF` body lines as instructions and does not keep blank body lines.
 */

export interface SourceInstruction {
  /** 1-based line of the instruction's first line. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** The instruction as written, one logical line with continuations joined. */
  text: string;
  /** Here-documents that follow the instruction, in the order of their markers. */
  heredocs: Heredoc[];
}

export interface SourceWarning {
  line: number;
  message: string;
}

export interface DockerfileSource {
  escapeCharacter: '\\' | '`';
  /** The value of `# syntax=`; parse-dockerfile.ts checks that it names the Dockerfile frontend. */
  syntax?: string;
  /** 1-based line of the syntax directive, for messages about it. */
  syntaxLine?: number;
  /** The value of `# check=`; Slipway runs no build checks, so it is recorded only. */
  check?: string;
  instructions: SourceInstruction[];
  warnings: SourceWarning[];
}

const BYTE_ORDER_MARK = '\uFEFF';
const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);

export function readDockerfileSource(input: string): DockerfileSource {
  const text = input.startsWith(BYTE_ORDER_MARK) ? input.slice(1) : input;
  const lines = text.split('\n').map((line) => line.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();

  const directives = readDirectives(lines);
  const reader = new LineReader(lines, directives.escapeCharacter);
  const instructions: SourceInstruction[] = [];
  for (let instruction = reader.next(); instruction; instruction = reader.next()) instructions.push(instruction);
  return { ...directives, instructions, warnings: reader.warnings };
}

/**
 * Reads the parser directives: `# name=value` lines before the first line that is not
 * one. An unknown name ends the directives too, and its line stays a comment.
 */
function readDirectives(lines: string[]): Pick<DockerfileSource, 'escapeCharacter' | 'syntax' | 'syntaxLine' | 'check'> {
  const values = new Map<string, string>();
  const positions = new Map<string, number>();
  for (const [index, raw] of lines.entries()) {
    const match = DIRECTIVE.exec(raw.trimStart());
    const name = match?.[1]!.toLowerCase();
    if (!match || !KNOWN_DIRECTIVES.has(name!)) break;
    if (values.has(name!)) throw invalidInstruction({ line: index + 1, column: 1 }, `the ${name} parser directive is given twice: keep one`);
    values.set(name!, match[2]!);
    positions.set(name!, index + 1);
  }

  const escape = values.get('escape') ?? '\\';
  if (escape !== '\\' && escape !== '`') {
    throw invalidInstruction({ line: positions.get('escape')!, column: 1 }, `the escape directive must be \\ or \`, not ${JSON.stringify(escape)}`);
  }
  return { escapeCharacter: escape, syntax: values.get('syntax'), syntaxLine: positions.get('syntax'), check: values.get('check') };
}

/** Walks the physical lines and returns one logical instruction at a time. */
class LineReader {
  readonly warnings: SourceWarning[] = [];
  private index = 0;
  private readonly continuation: RegExp;

  constructor(
    private readonly lines: string[],
    escapeCharacter: string,
  ) {
    const escape = escapeCharacter === '\\' ? '\\\\' : '`';
    // An escape character at the end of a line, unless it is escaped itself, joins the next line.
    this.continuation = new RegExp(`([^${escape}])${escape}[ \\t]*$|^${escape}[ \\t]*$`);
  }

  next(): SourceInstruction | undefined {
    while (this.index < this.lines.length) {
      const start = this.index;
      const raw = this.lines[this.index]!;
      this.index += 1;
      const trimmed = raw.trimStart();
      if (trimmed === '' || trimmed.startsWith('#')) continue;

      const text = this.joinContinuation(trimmed, start);
      const line = start + 1;
      const column = raw.length - trimmed.length + 1;
      return { line, column, text, heredocs: this.readHeredocs(text, line, column) };
    }
    return undefined;
  }

  private joinContinuation(first: string, start: number): string {
    let { text, ended } = this.stripContinuation(first);
    let emptyLines = false;
    while (!ended && this.index < this.lines.length) {
      const raw = this.lines[this.index]!;
      this.index += 1;
      if (raw.trimStart().startsWith('#')) continue;
      if (raw.trim() === '') {
        emptyLines = true;
        continue;
      }
      const part = this.stripContinuation(raw);
      text += part.text;
      ended = part.ended;
    }
    if (emptyLines) this.warnings.push({ line: start + 1, message: 'an empty continuation line was found; a future Dockerfile syntax rejects it' });
    return text;
  }

  private stripContinuation(line: string): { text: string; ended: boolean } {
    if (!this.continuation.test(line)) return { text: line, ended: true };
    return { text: line.replace(this.continuation, '$1'), ended: false };
  }

  /** Reads the bodies of the here-documents that a RUN, COPY or ADD line (shell form) starts. */
  private readHeredocs(text: string, line: number, column: number): Heredoc[] {
    const keyword = /^\S*/.exec(text)![0].toUpperCase();
    const args = extractFlags(text.slice(keyword.length)).rest;
    if (keyword === 'ONBUILD') {
      // TODO: ONBUILD RUN <<EOF needs the body stored with the trigger text in the image config, so it is rejected until then.
      const trigger = /^\S*/.exec(args)![0].toUpperCase();
      if (HEREDOC_KEYWORDS.has(trigger) && findHeredocMarkers(args).length > 0) {
        throw unsupportedFeature({ line, column }, 'here-documents in ONBUILD triggers are not supported: put the commands in a script file and COPY it');
      }
      return [];
    }
    if (!HEREDOC_KEYWORDS.has(keyword) || isJsonArrayText(args)) return [];

    const heredocs: Heredoc[] = [];
    for (const marker of findHeredocMarkers(text)) {
      let content = '';
      let terminated = false;
      while (this.index < this.lines.length) {
        const raw = this.lines[this.index]!;
        this.index += 1;
        if ((marker.chomp ? raw.replace(/^\t+/, '') : raw) === marker.name) {
          terminated = true;
          break;
        }
        content += `${raw}\n`;
      }
      if (!terminated) {
        throw invalidInstruction({ line, column }, `the here-document <<${marker.name} has no closing line: end it with a line that holds only ${marker.name}`);
      }
      heredocs.push({ ...marker, content });
    }
    return heredocs;
  }
}
