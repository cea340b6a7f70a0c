/**
 * Variable substitution in Dockerfile words, as the Dockerfile reference describes it
 * under "Environment replacement": `$name`, `${name}`, `${name:-word}`, `${name-word}`,
 * `${name:+word}`, `${name+word}`, `${name:?message}` and `${name?message}`, with
 * quote removal (`'…'` is literal, `"…"` expands) and the escape character (`\` or the
 * one set by the `escape` directive) making the next character literal, so `\$foo`
 * stays `$foo`.
 *
 * The pattern forms (`${name#pattern}`, `${name%pattern}`, `${name/a/b}`) are marked
 * pre-release in the reference and are rejected here with a message naming them.
 */

/** Variables in scope: names to values. A missing name is unset, `''` is set but empty. */
export type VariableScope = ReadonlyMap<string, string>;

export interface ExpansionResult {
  /** The word with variables replaced and quotes removed; whitespace is kept. */
  value: string;
  /** The word split on unquoted whitespace after substitution, as a shell splits it. */
  words: string[];
}

/** A syntax error in a word, such as an unterminated quote or a missing `}`. */
export class WordExpansionError extends Error {
  constructor(message: string, readonly word: string) {
    super(message);
    this.name = 'WordExpansionError';
  }
}

export interface ExpansionOptions {
  /** Leaves `$name` and `${name}` as written when the name is unset, as BuildKit's SkipUnsetEnv does. */
  keepUnset?: boolean;
  /**
   * Treats quotes as plain characters, as BuildKit does for the body of a COPY
   * here-document: variables and the escape character still work.
   */
  literalQuotes?: boolean;
}

/** Expands one word; the result keeps inner whitespace (`ENV a="x  y"` gives `x  y`). */
export function expandWord(word: string, scope: VariableScope, escapeCharacter = '\\', options: ExpansionOptions = {}): string {
  return new WordLexer(word, scope, escapeCharacter, options).run().value;
}

/** Expands one word and splits the result into fields on unquoted whitespace. */
export function expandWords(word: string, scope: VariableScope, escapeCharacter = '\\', options: ExpansionOptions = {}): string[] {
  return new WordLexer(word, scope, escapeCharacter, options).run().words;
}

const SPECIAL_PARAMETERS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

function isSpace(character: string): boolean {
  return /\s/.test(character);
}

/** Collects characters into the substituted value and into whitespace-split fields. */
class FieldCollector {
  value = '';
  private readonly fields: string[] = [];
  private current = '';
  private inField = false;

  /** Adds text that came from a variable: its whitespace splits fields. */
  addSplittable(text: string): void {
    this.value += text;
    for (const character of text) {
      if (!isSpace(character)) this.addToField(character);
      else this.endField();
    }
  }

  /** Adds text that stays in one field whatever it contains (quoted or escaped text). */
  addLiteral(text: string): void {
    this.value += text;
    this.addToField(text);
  }

  words(): string[] {
    this.endField();
    return this.fields;
  }

  private addToField(text: string): void {
    this.current += text;
    this.inField = true;
  }

  private endField(): void {
    if (this.inField && this.current.length > 0) this.fields.push(this.current);
    this.current = '';
    this.inField = false;
  }
}

class WordLexer {
  private position = 0;

  constructor(
    private readonly word: string,
    private readonly scope: VariableScope,
    private readonly escapeCharacter: string,
    private readonly options: ExpansionOptions = {},
  ) {}

  run(): ExpansionResult {
    const collector = this.readUntil(undefined);
    return { value: collector.value, words: collector.words() };
  }

  private peek(): string | undefined {
    return this.word[this.position];
  }

  private next(): string | undefined {
    const character = this.word[this.position];
    this.position += 1;
    return character;
  }

  private fail(message: string): never {
    throw new WordExpansionError(message, this.word);
  }

  /** Reads to the end of the word, or up to and including `stop` when one is given. */
  private readUntil(stop: string | undefined): FieldCollector {
    const collector = new FieldCollector();
    for (let character = this.peek(); character !== undefined; character = this.peek()) {
      if (stop !== undefined && character === stop) {
        this.next();
        return collector;
      }
      const quotesApply = !this.options.literalQuotes;
      if (character === '$') collector.addSplittable(this.readDollar());
      else if (quotesApply && character === "'") collector.addLiteral(this.readSingleQuoted());
      else if (quotesApply && character === '"') collector.addLiteral(this.readDoubleQuoted());
      else if (character === this.escapeCharacter) {
        this.next();
        const escaped = this.next();
        if (escaped !== undefined) collector.addLiteral(escaped);
      } else {
        this.next();
        if (isSpace(character)) collector.addSplittable(character);
        else collector.addLiteral(character);
      }
    }
    if (stop !== undefined) this.fail(`missing "${stop}"`);
    return collector;
  }

  /** Single quotes keep every character, and nothing can be escaped inside them. */
  private readSingleQuoted(): string {
    this.next();
    const end = this.word.indexOf("'", this.position);
    if (end === -1) this.fail('unterminated single quote');
    const text = this.word.slice(this.position, end);
    this.position = end + 1;
    return text;
  }

  /** Double quotes expand `$`; the escape character escapes only `"`, `$` and itself. */
  private readDoubleQuoted(): string {
    this.next();
    let text = '';
    for (;;) {
      const character = this.peek();
      if (character === undefined) this.fail('unterminated double quote');
      if (character === '"') {
        this.next();
        return text;
      }
      if (character === '$') {
        text += this.readDollar();
        continue;
      }
      this.next();
      if (character === this.escapeCharacter) {
        const following = this.peek();
        if (following === undefined) continue;
        if (following === '"' || following === '$' || following === this.escapeCharacter) {
          text += this.next();
          continue;
        }
      }
      text += character;
    }
  }

  private readDollar(): string {
    const start = this.position;
    this.next();
    if (this.peek() !== '{') {
      const name = this.readName();
      if (name === '') return '$';
      return this.scope.get(name) ?? this.unset(start);
    }

    this.next();
    const first = this.peek();
    if (first === undefined) this.fail('missing "}" in ${…}');
    if (first === '{' || first === '}' || first === ':') this.fail('bad substitution in ${…}');
    const name = this.readName();
    const operator = this.next();
    if (operator === '}') return this.scope.get(name) ?? this.unset(start);
    if (operator === undefined) this.fail('missing "}" in ${…}');
    return this.readModifier(name, operator);
  }

  /** The text of an unset variable: empty, or the reference as written with `keepUnset`. */
  private unset(start: number): string {
    return this.options.keepUnset ? this.word.slice(start, this.position) : '';
  }

  /** Applies `-`, `+` or `?`, each optionally after `:`, which makes an empty value count as unset. */
  private readModifier(name: string, operator: string): string {
    const emptyIsUnset = operator === ':';
    const modifier = emptyIsUnset ? this.next() : operator;
    if (modifier !== '-' && modifier !== '+' && modifier !== '?') {
      this.fail(`unsupported modifier "${emptyIsUnset ? ':' : ''}${modifier ?? ''}" in \${${name}…}: use :-, -, :+, +, :? or ?`);
    }

    const word = this.readUntil('}').value;
    const value = this.scope.get(name);
    const unset = value === undefined || (emptyIsUnset && value === '');
    if (modifier === '-') return unset ? word : value!;
    if (modifier === '+') return unset ? '' : word;
    if (unset) this.fail(`${name}: ${word || (value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty')}`);
    return value!;
  }

  /** Reads a variable name: letters, digits and `_`, or one positional or special parameter. */
  private readName(): string {
    const first = this.peek();
    if (first === undefined) return '';
    if (/\d/.test(first)) {
      let digits = '';
      while (this.peek() !== undefined && /\d/.test(this.peek()!)) digits += this.next();
      return digits;
    }
    if (SPECIAL_PARAMETERS.has(first)) return this.next()!;

    let name = '';
    while (this.peek() !== undefined && /[\p{L}\p{N}_]/u.test(this.peek()!)) name += this.next();
    return name;
  }
}
