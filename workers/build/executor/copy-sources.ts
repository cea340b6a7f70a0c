import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import type { SourceMatch } from '../cache/source-checksum.ts';
import { compileComponentPattern, hasWildcard, matchesComponent } from './path-pattern.ts';

/** The folder that COPY or ADD sources are relative to. */
export interface SourceRoot {
  hostPath: string;
  /** How messages name it: `the build context`, `stage builder`, `image docker.io/library/debian:bookworm`. */
  name: string;
}

/** A match of a source, with where it goes below the destination under `COPY --parents`. */
export interface ExpandedMatch extends SourceMatch {
  /** The match's path after the source's `/./` pivot, or its whole path; used only with `--parents`. */
  parentsPath: string;
}

export interface ExpandOptions {
  /**
   * `COPY --parents`: `**` matches any number of folders, and a `/./` in the source
   * marks where the kept parent folders begin (rsync's `--relative` rule).
   */
  parents?: boolean;
}

/**
 * Expands one COPY or ADD source into the files and folders it names, sorted by path.
 * The source is relative to the root, and `..` stops at the root, as the Dockerfile
 * reference says. Wildcards match per path component. Every component, the last
 * included, is resolved the way a process chrooted into the root would see it, so a
 * symbolic link (even an absolute one) never leads outside the root. A source that is
 * itself a link names the link's target, because BuildKit follows it. Returns an empty
 * list when nothing matches.
 */
export async function expandSource(root: SourceRoot, source: string, options: ExpandOptions = {}): Promise<ExpandedMatch[]> {
  const { components, pivot } = normalizeComponents(source, options.parents ?? false);
  const wildcard = components.some((component) => hasWildcard(component) || (options.parents && component === '**'));
  const candidates = wildcard ? await expandWildcards(root.hostPath, components, options.parents ?? false) : [components.join('/')];

  const matches: ExpandedMatch[] = [];
  for (const candidate of candidates) {
    const hostPath = await resolveInRoot(root.hostPath, `/${candidate}`);
    const stats = await lstat(hostPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw error;
    });
    const parentsPath = candidate.split('/').slice(pivot).join('/');
    if (stats) matches.push({ path: candidate, hostPath, stats, parentsPath });
  }
  return matches;
}

/**
 * Splits a source into components, dropping `.` and empty ones and applying `..` without
 * climbing above the root. With `parents`, a `.` after the first component is the pivot:
 * the number of components before it.
 */
function normalizeComponents(source: string, parents: boolean): { components: string[]; pivot: number } {
  const components: string[] = [];
  let pivot = 0;
  for (const component of source.split('/')) {
    if (component === '.' && parents && components.length > 0) pivot = components.length;
    if (component === '' || component === '.') continue;
    if (component === '..') components.pop();
    else components.push(component);
  }
  return { components, pivot: Math.min(pivot, components.length) };
}

/** Walks the components, listing the folders that a wildcard component has to match against. */
async function expandWildcards(rootPath: string, components: string[], parents: boolean): Promise<string[]> {
  let candidates = [''];
  for (const component of components) {
    if (parents && component === '**') {
      const expanded: string[] = [];
      for (const candidate of candidates) expanded.push(candidate, ...(await listDescendants(rootPath, candidate)));
      candidates = expanded;
      continue;
    }
    if (!hasWildcard(component)) {
      candidates = candidates.map((candidate) => path.posix.join(candidate, component));
      continue;
    }

    const pattern = compileComponentPattern(component);
    const next: string[] = [];
    for (const candidate of candidates) {
      const folder = await resolveInRoot(rootPath, `/${candidate}`);
      for (const name of await listFolder(folder)) {
        if (matchesComponent(pattern, name)) next.push(path.posix.join(candidate, name));
      }
    }
    candidates = next;
  }
  return [...new Set(candidates)].sort();
}

/** Lists every path below a folder (not following links), for `**`. */
async function listDescendants(rootPath: string, relative: string): Promise<string[]> {
  const folder = await resolveInRoot(rootPath, `/${relative}`);
  const stats = await lstat(folder).catch(() => null);
  if (!stats?.isDirectory()) return [];
  const found: string[] = [];
  for (const name of await listFolder(folder)) {
    const child = path.posix.join(relative, name);
    found.push(child, ...(await listDescendants(rootPath, child)));
  }
  return found;
}

/** Lists a folder's names in order; a path that is missing or not a folder has none. */
async function listFolder(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}

/**
 * Finds the symbolic link that takes a missing source out of its root: the first
 * component (host-side, not followed) that is a link whose target is absolute or climbs
 * above the root. Returns undefined when no component is such a link.
 */
export async function findEscapingLink(rootPath: string, source: string): Promise<{ link: string; target: string } | undefined> {
  const components = normalizeComponents(source, false).components;
  for (let index = 0; index < components.length; index += 1) {
    const relative = components.slice(0, index + 1).join('/');
    const stats = await lstat(path.join(rootPath, relative)).catch(() => null);
    if (!stats) return undefined;
    if (!stats.isSymbolicLink()) continue;

    const target = await readlink(path.join(rootPath, relative));
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(relative), target));
    if (path.posix.isAbsolute(target) || joined === '..' || joined.startsWith('../')) return { link: relative, target };
    return undefined;
  }
  return undefined;
}
