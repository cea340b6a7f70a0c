import { lstat, readdir } from 'node:fs/promises';
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

/**
 * Expands one COPY or ADD source into the files and folders it names, sorted by path.
 * The source is relative to the root, and `..` stops at the root. Wildcards match per
 * path component. Every component, the last included, is resolved the way a process
 * chrooted into the root would see it, so a symbolic link (even an absolute one) never
 * leads outside the root. A source that is itself a link names the link's target,
 * because BuildKit follows it. Returns an empty list when nothing matches.
 */
export async function expandSource(root: SourceRoot, source: string): Promise<SourceMatch[]> {
  const components = normalizeComponents(source);
  const candidates = components.some(hasWildcard) ? await expandWildcards(root.hostPath, components) : [components.join('/')];

  const matches: SourceMatch[] = [];
  for (const candidate of candidates) {
    const hostPath = await resolveInRoot(root.hostPath, `/${candidate}`);
    const stats = await lstat(hostPath).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
      throw error;
    });
    if (stats) matches.push({ path: candidate, hostPath, stats });
  }
  return matches;
}

/** Splits a source into components, dropping `.` and empty ones and applying `..` without climbing above the root. */
function normalizeComponents(source: string): string[] {
  const components: string[] = [];
  for (const component of source.split('/')) {
    if (component === '' || component === '.') continue;
    if (component === '..') components.pop();
    else components.push(component);
  }
  return components;
}

/** Walks the components, listing the folders that a wildcard component has to match against. */
async function expandWildcards(rootPath: string, components: string[]): Promise<string[]> {
  let candidates = [''];
  for (const component of components) {
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
  return candidates;
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
