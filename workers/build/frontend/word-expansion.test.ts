import { describe, expect, it } from 'vitest';
import { expandWord, expandWords, WordExpansionError } from './word-expansion.ts';

const scope = new Map([
  ['name', 'value'],
  ['empty', ''],
  ['spaced', 'a  b'],
  ['path', '/usr/bin'],
]);

describe('expandWord', () => {
  it.each([
    ['plain $name', '$name', 'value'],
    ['braced ${name}', '${name}', 'value'],
    ['braces join text', '${name}_suffix', 'value_suffix'],
    ['$name stops at a non-name character', '$name.txt', 'value.txt'],
    ['unset $missing is empty', 'x$missing/y', 'x/y'],
    ['a lone $ stays', 'cost $ 5', 'cost $ 5'],
    ['${v:-w} takes the value when set and non-empty', '${name:-word}', 'value'],
    ['${v:-w} takes the word when unset', '${missing:-word}', 'word'],
    ['${v:-w} takes the word when empty', '${empty:-word}', 'word'],
    ['${v-w} keeps an empty value', '${empty-word}', ''],
    ['${v-w} takes the word when unset', '${missing-word}', 'word'],
    ['${v:+w} takes the word when set and non-empty', '${name:+word}', 'word'],
    ['${v:+w} is empty when the value is empty', '${empty:+word}', ''],
    ['${v+w} takes the word when set, even empty', '${empty+word}', 'word'],
    ['${v+w} is empty when unset', '${missing+word}', ''],
    ['the word of a modifier is expanded too', '${missing:-$path/x}', '/usr/bin/x'],
    ['an escaped $ stays literal', '\\$name', '$name'],
    ['an escaped ${ stays literal', '\\${name}', '${name}'],
    ['single quotes keep $ literal', "'$name'", '$name'],
    ['double quotes expand', '"$name here"', 'value here'],
    ['double quotes keep inner whitespace', '"a   b"', 'a   b'],
    ['quotes are removed in the middle of a word', 'x"y"z', 'xyz'],
    ['escape inside double quotes only escapes " $ and \\', '"a\\"b\\$c\\d"', 'a"b$c\\d'],
    ['an escaped space is kept', 'Rex\\ The\\ Dog', 'Rex The Dog'],
    ['a value with spaces keeps them', '$spaced', 'a  b'],
  ])('%s', (_name, word, expected) => {
    expect(expandWord(word, scope)).toBe(expected);
  });

  it('uses the escape directive character instead of backslash', () => {
    expect(expandWord('`$name C:\\dir', scope, '`')).toBe('$name C:\\dir');
  });

  it.each([
    ['${name:?must be set} passes when set', '${name:?must be set}', 'value'],
    ['${empty?…} passes when set but empty', '${empty?must be set}', ''],
  ])('%s', (_name, word, expected) => {
    expect(expandWord(word, scope)).toBe(expected);
  });

  it.each([
    ['unterminated single quote', "'abc", /unterminated single quote/],
    ['unterminated double quote', '"abc', /unterminated double quote/],
    ['missing closing brace', '${name', /missing "}"/],
    ['empty braces', '${}', /bad substitution/],
    ['a pre-release pattern modifier', '${name#v}', /unsupported modifier "#"/],
    ['${v:?msg} when empty', '${empty:?needs a value}', /empty: needs a value/],
    ['${v?} when unset', '${missing?}', /missing: is not allowed to be unset/],
  ])('rejects %s', (_name, word, message) => {
    expect(() => expandWord(word, scope)).toThrow(WordExpansionError);
    expect(() => expandWord(word, scope)).toThrow(message);
  });
});

describe('expandWords', () => {
  it.each([
    ['splits on unquoted whitespace', 'a b  c', ['a', 'b', 'c']],
    ['splits a variable value', '$spaced', ['a', 'b']],
    ['keeps quoted whitespace in one field', '"a b" c', ['a b', 'c']],
    ['keeps an escaped space in one field', 'a\\ b', ['a b']],
    ['drops an empty expansion', '$missing x', ['x']],
  ])('%s', (_name, word, expected) => {
    expect(expandWords(word, scope)).toEqual(expected);
  });
});

describe('expandWord options', () => {
  it.each([
    ['keepUnset leaves $missing as written', '$missing and ${missing}', { keepUnset: true }, '$missing and ${missing}'],
    ['keepUnset still substitutes a set name', '$name', { keepUnset: true }, 'value'],
    ['literalQuotes keeps quotes and expands inside them', `say "$name" '$name'`, { literalQuotes: true }, `say "value" 'value'`],
    ['literalQuotes keeps whitespace and newlines', 'a  b\nc', { literalQuotes: true }, 'a  b\nc'],
  ])('%s', (_name, word, options, expected) => {
    expect(expandWord(word, scope, '\\', options)).toBe(expected);
  });
});
