import { splitQuotedWords } from './line-parsers.ts';
import { expandWords, WordExpansionError } from './word-expansion.ts';

/**
 * Here-documents of the Dockerfile reference ("Here-Documents"): `<<EOF`, `<<-EOF` (tabs
 * stripped from the body), `<<"EOF"` or `<<'EOF'` (no variable expansion), and several
 * on one line. RUN, COPY and ADD in shell form may carry them. The body lines follow the
 * instruction, and each here-document ends at a line that is exactly its name. The rules
 * follow BuildKit's parser (moby/buildkit frontend/dockerfile/parser).
 */

export interface Heredoc {
  /** The delimiter with its quotes removed; COPY uses it as the file name. */
  name: string;
  /** `<<-`: leading tabs are stripped from the body lines and from the terminator. */
  chomp: boolean;
  /** False when any part of the delimiter is quoted, which turns substitution in the body off. */
  expand: boolean;
  /** The body as written, every line with its newline; `chomp` is not applied yet. */
  content: string;
}

/** A here-document marker word such as `<<EOF`, `<<-"EOF"` or `3<<EOF`. */
const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;

/** Instructions whose shell form may carry here-documents. */
export const HEREDOC_KEYWORDS: ReadonlySet<string> = new Set(['RUN', 'COPY', 'ADD']);

/**
 * Reads one word as a here-document marker, or returns undefined for any other word. The
 * delimiter is read as a shell word: when removing its quotes changes it, some part was
 * quoted and the body is not expanded.
 */
export function parseHeredocMarker(word: string): Omit<Heredoc, 'content'> | undefined {
  const match = HEREDOC_WORD.exec(word);
  const rest = match?.[3];
  if (!match || !rest) return undefined;

  let unquoted: string[];
  try {
    unquoted = expandWords(rest, new Map(), '\\', { keepUnset: true });
  } catch (error) {
    if (error instanceof WordExpansionError) return undefined;
    throw error;
  }
  if (unquoted.length !== 1) return undefined;

  const name = unquoted[0]!;
  const quotes = (text: string) => (text.match(/["']/g) ?? []).length;
  return { name, chomp: match[2] === '-', expand: quotes(name) === quotes(rest) };
}

/** Finds the here-document markers of an instruction line, in order, as BuildKit splits the line into shell words. */
export function findHeredocMarkers(line: string): Omit<Heredoc, 'content'>[] {
  return splitQuotedWords(line, '\\').flatMap((word) => parseHeredocMarker(word) ?? []);
}

/** Strips the leading tabs of every line, as `<<-` asks. */
export function chompHeredoc(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/** The body of a here-document as the command or file sees it: chomped when its marker was `<<-`. */
export function heredocBody(heredoc: Heredoc): string {
  return heredoc.chomp ? chompHeredoc(heredoc.content) : heredoc.content;
}

/** Where a RUN here-document that starts with `#!` is mounted as an executable file, as in BuildKit. */
export const SCRIPT_FOLDER = '/dev/pipes';

/**
 * Returns the process arguments of a shell-form RUN with here-documents applied as
 * BuildKit does. A command that is just one here-document runs its body with the shell,
 * or, when the body starts with `#!`, as a script file under SCRIPT_FOLDER. Otherwise
 * the here-documents go back into the command text and the shell reads them.
 */
export function heredocRunArgs(script: string, heredocs: readonly Heredoc[], shell: readonly string[]): { args: string[]; scripts: { name: string; content: string }[] } {
  if (heredocs.length === 0) return { args: [...shell, script], scripts: [] };

  const marker = parseHeredocMarker(script.trim());
  const first = heredocs[0]!;
  if (!marker || heredocs.length !== 1) {
    const full = script + heredocs.map((heredoc) => `\n${heredoc.content}${heredoc.name}`).join('');
    return { args: [...shell, full], scripts: [] };
  }

  const body = heredocBody(first);
  if (!body.startsWith('#!')) return { args: [...shell, body], scripts: [] };
  if (!/^[A-Za-z0-9._-]+$/.test(first.name) || first.name === '.' || first.name === '..') {
    throw new Error(`the here-document <<${first.name} is a script, so its name becomes a file name: use letters, digits, ".", "_" or "-"`);
  }
  return { args: [...shell, `${SCRIPT_FOLDER}/${first.name}`], scripts: [{ name: first.name, content: body }] };
}
