import path from 'node:path';
import { ContextError } from './context-errors.ts';

/**
 * Normalises a path inside the context: `/` separators, no `.` segments, no trailing
 * slash, `.` for the root. Returns undefined for a path that climbs out (`..`, `a/../..`).
 * Lexical only: symlinks are checked separately, against the archive's own entries.
 */
export function normalizeInside(relative: string): string | undefined {
  const normalized = path.posix.normalize(relative.replace(/^(\.\/)+/, '')).replace(/\/+$/, '');
  if (normalized === '..' || normalized.startsWith('../')) return undefined;
  return normalized === '' ? '.' : normalized;
}

/** Lists the proper ancestors of a normalized path, outermost first (`a/b/c` gives `a`, `a/b`). */
export function ancestorsOf(normalized: string): string[] {
  const parts = normalized.split('/');
  return parts.slice(0, -1).map((_part, index) => parts.slice(0, index + 1).join('/'));
}

/**
 * Checks the Dockerfile path of a build request (`?dockerfile=PATH`, default
 * `Dockerfile`): a relative path that stays inside the context. Returns it normalized.
 */
export function validateDockerfilePath(input: string | undefined): string {
  const value = input ?? 'Dockerfile';
  const normalized = value.includes('\0') || path.posix.isAbsolute(value) ? undefined : normalizeInside(value);
  if (value.trim() === '' || normalized === undefined || normalized === '.') {
    throw new ContextError(
      'DOCKERFILE_PATH_INVALID',
      `Dockerfile path ${JSON.stringify(value)} is invalid: give a path relative to the context root, such as Dockerfile or docker/Dockerfile.prod.`,
      { dockerfile: value },
    );
  }
  return normalized;
}
