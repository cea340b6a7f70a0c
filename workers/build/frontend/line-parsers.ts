/**
 * Splitting of one logical instruction line into flags and arguments, following the
 * line parsers of Docker's Dockerfile frontend (moby/buildkit, frontend/dockerfile/parser).
 * Variables are not substituted here: quotes stay in the words and are removed when a
 * word is expanded (word-expansion.ts), because substitution needs build-time values.
 */

const WHITESPACE_RUN = /[\t\v\f\r ]+/;

export function splitWhitespace(text: string): string[] {
  const trimmed = text.trim();
  return trimmed === '' ? [] : trimmed.split(WHITESPACE_RUN);
}

export interface ExtractedFlags {
  /** Flags as written with quotes removed, such as `--chown=1000:1000` or `--link`. */
  flags: string[];
  /** The rest of the line after the flags, trimmed. */
  rest: string;
}

/**
 * Takes the leading `--name[=value]` words off an instruction's arguments. Quotes and
 * backslashes inside a flag are processed (`--chown="a b"` gives `a b`), and a bare `--`
 * ends the flags. Docker applies this to every instruction, so `ENV --x=1 a=b` is an
 * unknown-flag error rather than a variable named `--x`.
 */
export function extractFlags(text: string): ExtractedFlags {
  const flags: string[] = [];
  let position = 0;

  for (;;) {
    while (position < text.length && /\s/.test(text[position]!)) position += 1;
    if (!text.startsWith('--', position)) return { flags, rest: text.slice(position).trim() };

    const { word, end } = readFlagWord(text, position);
    position = end;
    if (word === '--') return { flags, rest: text.slice(position).trim() };
    flags.push(word);
  }
}

function readFlagWord(text: string, start: number): { word: string; end: number } {
  let word = '';
  let quote: string | undefined;
  let position = start;

  for (; position < text.length; position += 1) {
    const character = text[position]!;
    if (quote === undefined && /\s/.test(character)) break;
    if (quote === undefined && (character === '"' || character === "'")) {
      quote = character;
      continue;
    }
    if (quote !== undefined && character === quote) {
      quote = undefined;
      continue;
    }
    if (character === '\\' && position + 1 < text.length) {
      position += 1;
      word += text[position];
      continue;
    }
    if (character !== '\\') word += character;
  }
  return { word, end: position };
}

/** A flag an instruction accepts: a string that needs `=value`, a boolean, or a repeatable string. */
export type FlagKind = 'string' | 'boolean' | 'strings';

export type ParsedFlags = Map<string, string | boolean | string[]>;

/**
 * Checks extracted flags against the ones an instruction accepts. Throws an Error whose
 * message names the flag; the caller adds the line.
 */
export function parseFlags(flags: string[], accepted: Record<string, FlagKind>): ParsedFlags {
  const parsed: ParsedFlags = new Map();
  for (const flag of flags) {
    const body = flag.slice(2);
    const equals = body.indexOf('=');
    const name = equals === -1 ? body : body.slice(0, equals);
    const value = equals === -1 ? undefined : body.slice(equals + 1);
    const kind = accepted[name];

    if (kind === undefined) throw new Error(`unknown flag --${name}`);
    if (parsed.has(name) && kind !== 'strings') throw new Error(`flag --${name} is given twice`);
    if (kind === 'boolean') {
      parsed.set(name, parseBooleanFlag(name, value));
      continue;
    }
    if (value === undefined) throw new Error(`flag --${name} needs a value: write --${name}=VALUE`);
    if (kind === 'strings') parsed.set(name, [...((parsed.get(name) as string[] | undefined) ?? []), value]);
    else parsed.set(name, value);
  }
  return parsed;
}

function parseBooleanFlag(name: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new Error(`flag --${name} takes true or false, not ${JSON.stringify(value)}`);
}

/** The result of reading an argument that may be a JSON array (exec form). */
export type MaybeJson = { json: true; values: string[] } | { json: false };

/**
 * Reads `text` as a JSON array of strings when it is one. As in Docker, text that is not
 * a JSON array is shell form, but an array with a non-string element is an error.
 * Slipway also rejects one shape Docker would run as a shell command: a bracketed,
 * comma-separated list of quoted items that is not valid JSON, such as `['a', 'b']`,
 * which is nearly always a mistaken exec form.
 */
export function parseMaybeJson(text: string): MaybeJson {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return { json: false };

  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (error) {
    if (looksLikeBrokenJsonList(trimmed)) {
      throw new Error(
        `${trimmed} is not a valid JSON array (${(error as Error).message}): write each item in double quotes, ` +
          'with backslashes doubled, such as ["executable", "arg"], or write the command without brackets for shell form',
      );
    }
    return { json: false };
  }

  if (!Array.isArray(parsed)) return { json: false };
  if (!parsed.every((item) => typeof item === 'string')) {
    throw new Error(`${trimmed} is a JSON array with an item that is not a string: write every item in double quotes`);
  }
  return { json: true, values: parsed as string[] };
}

/** Whether the text is an exec form (a JSON array of strings); a malformed one counts as not. */
export function isJsonArrayText(text: string): boolean {
  try {
    return parseMaybeJson(text).json;
  } catch {
    return false;
  }
}

const QUOTED_ITEM = String.raw`(?:"(?:[^"\\]|\\.)*"|'[^']*')`;
const BROKEN_JSON_LIST = new RegExp(String.raw`^\[\s*${QUOTED_ITEM}\s*(?:,\s*${QUOTED_ITEM}\s*)+,?\s*\]$`);

function looksLikeBrokenJsonList(text: string): boolean {
  return BROKEN_JSON_LIST.test(text);
}

/**
 * Splits on unquoted whitespace and keeps the quotes and escapes in each word, as
 * Docker's `parseWords` does for ENV, LABEL and ARG. The escape character at the very
 * end of the text is dropped.
 */
export function splitQuotedWords(text: string, escapeCharacter: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;

  for (let position = 0; position < text.length; position += 1) {
    let character = text[position]!;
    if (quote === undefined && /\s/.test(character)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }

    inWord = true;
    if (quote === undefined && (character === '"' || character === "'")) quote = character;
    else if (quote !== undefined && character === quote) quote = undefined;

    if (character === escapeCharacter && quote !== "'") {
      if (position + 1 === text.length) continue;
      word += character;
      position += 1;
      character = text[position]!;
    }
    word += character;
  }
  if (inWord) words.push(word);
  return words;
}

export interface RawPair {
  key: string;
  value: string;
}

/**
 * Parses `ENV` and `LABEL` arguments: either `key=value ...` pairs, or the legacy
 * `key value` form in which the value is the rest of the line, spaces included. The
 * form is chosen by whether the first word contains `=`.
 */
export function parseKeyValuePairs(text: string, keyword: string, escapeCharacter: string): RawPair[] {
  const words = splitQuotedWords(text, escapeCharacter);
  if (words.length === 0) throw new Error(`${keyword} needs at least one key=value pair`);

  if (!words[0]!.includes('=')) return [parseLegacyPair(text, keyword)];

  return words.map((word) => {
    const equals = word.indexOf('=');
    if (equals === -1) throw new Error(`${keyword} expects key=value pairs, but ${JSON.stringify(word)} has no "="`);
    if (equals === 0) throw new Error(`${keyword} has a pair with an empty key: ${JSON.stringify(word)}`);
    return { key: word.slice(0, equals), value: word.slice(equals + 1) };
  });
}

function parseLegacyPair(text: string, keyword: string): RawPair {
  const trimmed = text.trim();
  const separator = WHITESPACE_RUN.exec(trimmed);
  if (!separator) throw new Error(`${keyword} ${trimmed} needs a value: write ${keyword} ${trimmed}=VALUE`);
  return { key: trimmed.slice(0, separator.index), value: trimmed.slice(separator.index + separator[0].length) };
}
