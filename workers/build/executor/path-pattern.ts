import { ValidationError } from '../../../shared/errors.ts';

/**
 * Matching of COPY and ADD source wildcards, one path component at a time. The syntax is
 * that of Go's filepath.Match, which the Dockerfile reference names: `*` (any run of
 * characters), `?` (one character), `[abc]`, `[a-z]`, `[^a-z]`, and `\` to escape the
 * next character. Unlike shell globs, `*` also matches names that start with a dot.
 */

/**
 * Checks whether a path component is a pattern: it contains `*`, `?`, `[` or a backslash, as Go's
 * filepath.Glob decides. Other components are taken literally.
 */
export function hasWildcard(component: string): boolean {
  return /[*?[\\]/.test(component);
}

/** Compiles one path component's pattern; throws COPY_SOURCE_PATTERN_INVALID for a malformed one, as Go returns ErrBadPattern. */
export function compileComponentPattern(pattern: string): RegExp {
  const characters = Array.from(pattern);
  let source = '';
  let index = 0;

  while (index < characters.length) {
    const character = characters[index]!;
    index += 1;
    if (character === '*') source += '.*';
    else if (character === '?') source += '.';
    else if (character === '\\') {
      if (index >= characters.length) throw badPattern(pattern, 'it ends with an escaping backslash');
      source += literal(characters[index]!);
      index += 1;
    } else if (character === '[') {
      const parsed = parseClass(characters, index, pattern);
      source += parsed.source;
      index = parsed.next;
    } else {
      source += literal(character);
    }
  }
  return new RegExp(`^${source}$`, 'su');
}

export function matchesComponent(pattern: RegExp, name: string): boolean {
  return pattern.test(name);
}

/** Parses a character class starting after its `[`; returns the RegExp class and the index after `]`. */
function parseClass(characters: string[], start: number, pattern: string): { source: string; next: number } {
  let index = start;
  let negated = false;
  if (characters[index] === '^') {
    negated = true;
    index += 1;
  }

  const ranges: string[] = [];
  while (characters[index] !== ']' || ranges.length === 0) {
    const low = classCharacter(characters, index, pattern);
    index = low.next;
    let high = low;
    if (characters[index] === '-') {
      high = classCharacter(characters, index + 1, pattern);
      index = high.next;
      if (high.value.codePointAt(0)! < low.value.codePointAt(0)!) throw badPattern(pattern, `the range ${low.value}-${high.value} runs backwards`);
    }
    ranges.push(low === high ? literal(low.value) : `${literal(low.value)}-${literal(high.value)}`);
  }
  return { source: `[${negated ? '^' : ''}${ranges.join('')}]`, next: index + 1 };
}

function classCharacter(characters: string[], index: number, pattern: string): { value: string; next: number } {
  const character = characters[index];
  if (character === undefined) throw badPattern(pattern, 'a [ has no closing ]');
  if (character === '\\') {
    const escaped = characters[index + 1];
    if (escaped === undefined) throw badPattern(pattern, 'it ends with an escaping backslash');
    return { value: escaped, next: index + 2 };
  }
  if (character === '-' || character === ']') throw badPattern(pattern, `a character class has an unescaped ${character}`);
  return { value: character, next: index + 1 };
}

/** Escapes one character for a RegExp with the `u` flag, inside or outside a class. */
function literal(character: string): string {
  return `\\u{${character.codePointAt(0)!.toString(16)}}`;
}

function badPattern(pattern: string, reason: string): ValidationError {
  return new ValidationError(
    'COPY_SOURCE_PATTERN_INVALID',
    `The source pattern ${JSON.stringify(pattern)} is invalid because ${reason}: use *, ?, [a-z] or [^a-z], and escape a literal *, ? or [ with \\.`,
    { details: { pattern } },
  );
}
