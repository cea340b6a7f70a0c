import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyFileModeChange, formatFileModeChange, parseFileModeChange } from './file-mode.ts';

/** Runs chmod(1) with umask 0 on a fresh file or folder of mode `start` and returns the resulting permission bits. */
function realChmod(dir: string, expression: string, start: number, isDirectory: boolean): number {
  const target = path.join(dir, `${isDirectory ? 'd' : 'f'}-${start.toString(8)}-${expression.replace(/[^a-z0-9]/gi, '_')}`);
  if (isDirectory) mkdirSync(target);
  else writeFileSync(target, '');
  chmodSync(target, start);
  execFileSync('sh', ['-c', 'umask 0 && chmod "$1" "$2"', 'sh', expression, target]);
  return statSync(target).mode & 0o7777;
}

describe('parseFileModeChange', () => {
  it.each([
    ['755', { kind: 'octal', mode: 0o755 }],
    ['0644', { kind: 'octal', mode: 0o644 }],
    ['+x', { kind: 'symbolic', expression: '+x' }],
    ['u=rwX,go=rX', { kind: 'symbolic', expression: 'u=rwX,go=rX' }],
    ['g=u', { kind: 'symbolic', expression: 'g=u' }],
  ])('reads %s', (text, expected) => {
    expect(parseFileModeChange(text)).toEqual(expected);
  });

  it.each(['', '888', 'u+q', 'x+u', 'u=rw,', 'rwx'])('rejects %j', (text) => {
    expect(() => parseFileModeChange(text)).toThrow(/is not a file mode/);
  });

  it('formats an octal mode with three digits', () => {
    expect(formatFileModeChange({ kind: 'octal', mode: 0o44 })).toBe('044');
  });
});

describe('applyFileModeChange', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'slipway-file-mode-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const expressions = ['+x', 'a-w', 'u=rwX,go=rX', 'g=u', 'o=g', 'u+s', 'g+s,o-rwx', '+t', 'go-w', 'a=r,u+w', 'u=,g=,o=', 'ug+rw', 'u-x+w'];
  const starts = [0o644, 0o755, 0o600, 0o4750];

  it.each(expressions.flatMap((expression) => starts.map((start) => [expression, start] as const)))('matches chmod %s on a file of mode %o', (expression, start) => {
    const change = parseFileModeChange(expression);

    expect(applyFileModeChange(change, start, false).toString(8)).toBe(realChmod(dir, expression, start, false).toString(8));
  });

  it.each(expressions.map((expression) => [expression] as const))('matches chmod %s on a folder of mode 750', (expression) => {
    const change = parseFileModeChange(expression);

    expect(applyFileModeChange(change, 0o750, true).toString(8)).toBe(realChmod(dir, expression, 0o750, true).toString(8));
  });

  it('sets an octal mode whatever the current one', () => {
    expect(applyFileModeChange({ kind: 'octal', mode: 0o640 }, 0o4777, false)).toBe(0o640);
  });
});
