import { describe, expect, it } from 'vitest';
import { isSlipwayError } from '../../../shared/errors.ts';
import { compileComponentPattern, hasWildcard, matchesComponent } from './path-pattern.ts';

function matches(pattern: string, name: string): boolean {
  return matchesComponent(compileComponentPattern(pattern), name);
}

describe('component pattern', () => {
  // Cases from the table of Go's path/filepath match_test.go that involve no separator.
  it.each([
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab', true],
    ['a*b*c*d*e*', 'axbxcxdxe', true],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['[\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\]a]', ']', true],
    ['*.txt', '.hidden.txt', true],
    ['hom?.txt', 'home.txt', true],
    ['hom?.txt', 'hoom.txt', false],
  ])('%s against %s is %s', (pattern, name, expected) => {
    expect(matches(pattern, name)).toBe(expected);
  });

  it.each(['[', '[^', '[]a]', '[-]', '[x-]', 'a[', 'ab\\', '[a-\\', '[z-a]'])('rejects the malformed pattern %s', (pattern) => {
    let code: string | undefined;
    try {
      compileComponentPattern(pattern);
    } catch (error) {
      code = isSlipwayError(error) ? error.code : 'not a SlipwayError';
    }

    expect(code).toBe('COPY_SOURCE_PATTERN_INVALID');
  });

  it.each([
    ['*.txt', true],
    ['file?', true],
    ['[ab]c', true],
    ['plain.txt', false],
    ['a\\*b', true],
  ])('treats %s as a wildcard: %s', (component, expected) => {
    expect(hasWildcard(component)).toBe(expected);
  });
});
