import { describe, expect, it } from 'vitest';
import { chompHeredoc, findHeredocMarkers, parseHeredocMarker } from './heredoc.ts';
import { readDockerfileSource } from './source-lines.ts';

describe('parseHeredocMarker', () => {
  it.each([
    ['<<EOF', { name: 'EOF', chomp: false, expand: true }],
    ['<<-EOF', { name: 'EOF', chomp: true, expand: true }],
    ['<<"EOF"', { name: 'EOF', chomp: false, expand: false }],
    ["<<'EOF'", { name: 'EOF', chomp: false, expand: false }],
    ['<<-"END"', { name: 'END', chomp: true, expand: false }],
    ['<<E"O"F', { name: 'EOF', chomp: false, expand: false }],
    ['3<<FILE', { name: 'FILE', chomp: false, expand: true }],
    ['<<file.txt', { name: 'file.txt', chomp: false, expand: true }],
  ])('reads %s', (word, expected) => {
    expect(parseHeredocMarker(word)).toEqual(expected);
  });

  it.each(['<<', 'cat<<EOF', '<<<EOF', '<<"A B"x y', 'EOF', '<<"EOF'])('does not take %j as a marker', (word) => {
    expect(parseHeredocMarker(word)).toBeUndefined();
  });
});

describe('findHeredocMarkers', () => {
  it('finds several markers on one line, in order', () => {
    expect(findHeredocMarkers('COPY <<a.txt <<-"b.txt" /dest/').map((marker) => marker.name)).toEqual(['a.txt', 'b.txt']);
  });

  it('ignores a marker inside quotes', () => {
    expect(findHeredocMarkers(`RUN echo "<<EOF"`)).toEqual([]);
  });
});

describe('chompHeredoc', () => {
  it('strips leading tabs of every line but keeps spaces', () => {
    expect(chompHeredoc('\t\tone\n  two\n\tthree\n')).toBe('one\n  two\nthree\n');
  });
});

/** Reads a Dockerfile and returns each instruction's line, text and here-document bodies. */
function read(text: string) {
  return readDockerfileSource(text).instructions.map((instruction) => ({
    line: instruction.line,
    text: instruction.text,
    heredocs: instruction.heredocs.map((heredoc) => [heredoc.name, heredoc.content]),
  }));
}

describe('readDockerfileSource here-documents', () => {
  it.each([
    [
      'a body with blank lines and # lines',
      'FROM a\nRUN <<EOF\necho hi\n\n# not a comment\nEOF\nRUN after\n',
      [{ line: 2, text: 'RUN <<EOF', heredocs: [['EOF', 'echo hi\n\n# not a comment\n']] }, { line: 7, text: 'RUN after', heredocs: [] }],
    ],
    [
      'a chomped body whose terminator is indented with tabs',
      'FROM a\nRUN <<-EOF\n\techo hi\n\tEOF\nRUN after\n',
      [{ line: 2, text: 'RUN <<-EOF', heredocs: [['EOF', '\techo hi\n']] }, { line: 5, text: 'RUN after', heredocs: [] }],
    ],
    [
      'two here-documents of one COPY',
      'FROM a\nCOPY <<one <<two /dst/\n1\none\n2\ntwo\n',
      [{ line: 2, text: 'COPY <<one <<two /dst/', heredocs: [['one', '1\n'], ['two', '2\n']] }],
    ],
    [
      'a marker on a continued line',
      'FROM a\nRUN python3 <<EOF && \\\n  echo done\nprint(1)\nEOF\n',
      [{ line: 2, text: 'RUN python3 <<EOF &&   echo done', heredocs: [['EOF', 'print(1)\n']] }],
    ],
    [
      'a marker with a file descriptor',
      'FROM a\nRUN 3<<EOF cat /dev/fd/3\nx\nEOF\nRUN after\n',
      [{ line: 2, text: 'RUN 3<<EOF cat /dev/fd/3', heredocs: [['EOF', 'x\n']] }, { line: 5, text: 'RUN after', heredocs: [] }],
    ],
    [
      'an empty body',
      'FROM a\nCOPY <<EOF /empty\nEOF\n',
      [{ line: 2, text: 'COPY <<EOF /empty', heredocs: [['EOF', '']] }],
    ],
  ])('reads %s', (_name, text, expected) => {
    expect(read(text).slice(1)).toEqual(expected);
  });

  it('keeps << in an exec form as text', () => {
    expect(read('FROM a\nRUN ["echo", "<<EOF"]\nRUN after\n').map((instruction) => instruction.line)).toEqual([1, 2, 3]);
  });

  it('reads no here-document for other instructions', () => {
    expect(read('FROM a\nENV A=<<EOF\nRUN after\n').map((instruction) => instruction.text)).toEqual(['FROM a', 'ENV A=<<EOF', 'RUN after']);
  });

  it('rejects a here-document in an ONBUILD trigger', () => {
    expect(() => readDockerfileSource('FROM a\nONBUILD RUN <<EOF\necho\nEOF\n')).toThrow(/ONBUILD triggers are not supported/);
  });
});

describe('readDockerfileSource parser directives', () => {
  it.each([
    ['syntax and check', '# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a\n', { syntax: 'docker/dockerfile:1', check: 'skip=all', escapeCharacter: '\\' }],
    ['spaces and case in a directive', '#  SYNTAX = docker/dockerfile:1.7 \nFROM a\n', { syntax: 'docker/dockerfile:1.7', check: undefined, escapeCharacter: '\\' }],
    ['a directive after a comment is a comment', '# about this file\n# syntax=x/y\nFROM a\n', { syntax: undefined, check: undefined, escapeCharacter: '\\' }],
    ['a directive after an unknown one is a comment', '# unknown=1\n# escape=`\nFROM a\n', { syntax: undefined, check: undefined, escapeCharacter: '\\' }],
    ['a directive after an instruction is a comment', 'FROM a\n# escape=`\n', { syntax: undefined, check: undefined, escapeCharacter: '\\' }],
    ['a directive after a blank line is a comment', '\n# escape=`\nFROM a\n', { syntax: undefined, check: undefined, escapeCharacter: '\\' }],
  ])('reads %s', (_name, text, expected) => {
    const { syntax, check, escapeCharacter } = readDockerfileSource(text);
    expect({ syntax, check, escapeCharacter }).toEqual(expected);
  });

  it('warns about an empty continuation line', () => {
    expect(readDockerfileSource('FROM a\nRUN echo \\\n\n  done\n').warnings).toEqual([
      { line: 2, message: 'an empty continuation line was found; a future Dockerfile syntax rejects it' },
    ]);
  });
});
