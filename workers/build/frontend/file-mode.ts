import type { FileModeChange } from './evaluated-step.ts';

/**
 * `--chmod` values of COPY and ADD: octal (`755`) or, since Dockerfile syntax 1.14, the
 * symbolic notation of chmod(1) (`+x`, `u=rwX,go=rX`, `g=u`). A symbolic expression is
 * applied to each copied file's own mode. The builder has no umask, so a clause without
 * `u`, `g`, `o` or `a` changes all three classes.
 */

const CLAUSE = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;
const CLASS_SHIFT: Readonly<Record<'u' | 'g' | 'o', number>> = { u: 6, g: 3, o: 0 };
const SETUID = 0o4000;
const SETGID = 0o2000;
const STICKY = 0o1000;

/** Checks a `--chmod` value; throws an Error naming it when it is neither octal nor symbolic. */
export function parseFileModeChange(text: string): FileModeChange {
  if (/^[0-7]{1,4}$/.test(text)) return { kind: 'octal', mode: Number.parseInt(text, 8) };
  if (text !== '' && text.split(',').every((clause) => CLAUSE.test(clause))) return { kind: 'symbolic', expression: text };
  throw new Error(`--chmod=${text} is not a file mode: write octal digits such as 755 or 0644, or a symbolic mode such as +x or u=rwX,go=rX`);
}

/** Formats a change as the image history shows it. */
export function formatFileModeChange(change: FileModeChange): string {
  return change.kind === 'octal' ? change.mode.toString(8).padStart(3, '0') : change.expression;
}

/** Returns the permission bits (07777) that `change` gives a file whose current mode is `mode`. */
export function applyFileModeChange(change: FileModeChange, mode: number, isDirectory: boolean): number {
  if (change.kind === 'octal') return change.mode;
  let result = mode & 0o7777;
  for (const clause of change.expression.split(',')) result = applyClause(clause, result, isDirectory);
  return result;
}

function applyClause(clause: string, mode: number, isDirectory: boolean): number {
  const who = /^[ugoa]*/.exec(clause)![0];
  const classes = who === '' || who.includes('a') ? (['u', 'g', 'o'] as const) : (['u', 'g', 'o'] as const).filter((name) => who.includes(name));
  let result = mode;

  for (const action of clause.slice(who.length).match(/[-+=][^-+=]*/g) ?? []) {
    const operator = action[0]!;
    const bits = permissionBits(action.slice(1), classes, result, isDirectory);
    if (operator === '+') result |= bits;
    else if (operator === '-') result &= ~bits;
    else result = (result & ~clearedByAssign(classes)) | bits;
  }
  return result;
}

/** The bits a permission list (`rwX`, `s`, `t`) or a copied class (`u`) stands for, within the chosen classes. */
function permissionBits(perms: string, classes: readonly ('u' | 'g' | 'o')[], mode: number, isDirectory: boolean): number {
  if (perms === 'u' || perms === 'g' || perms === 'o') {
    const copied = (mode >> CLASS_SHIFT[perms]) & 0o7;
    return classes.reduce((bits, name) => bits | (copied << CLASS_SHIFT[name]), 0);
  }

  let triple = 0;
  if (perms.includes('r')) triple |= 0o4;
  if (perms.includes('w')) triple |= 0o2;
  // X: execute only for folders and for files that someone may execute already.
  if (perms.includes('x') || (perms.includes('X') && (isDirectory || (mode & 0o111) !== 0))) triple |= 0o1;

  let bits = classes.reduce((sum, name) => sum | (triple << CLASS_SHIFT[name]), 0);
  if (perms.includes('s') && classes.includes('u')) bits |= SETUID;
  if (perms.includes('s') && classes.includes('g')) bits |= SETGID;
  if (perms.includes('t') && classes.includes('o')) bits |= STICKY;
  return bits;
}

/** `=` first clears the chosen classes' bits and their special bit (setuid for u, setgid for g, sticky for o). */
function clearedByAssign(classes: readonly ('u' | 'g' | 'o')[]): number {
  let bits = classes.reduce((sum, name) => sum | (0o7 << CLASS_SHIFT[name]), 0);
  if (classes.includes('u')) bits |= SETUID;
  if (classes.includes('g')) bits |= SETGID;
  if (classes.includes('o')) bits |= STICKY;
  return bits;
}
