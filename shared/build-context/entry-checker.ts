import type { Header } from 'tar-stream';
import { ContextError, entryError } from './context-errors.ts';
import { ancestorsOf, normalizeInside } from './context-paths.ts';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

/** An archive entry that passed the checks, with its path normalized. */
export interface CheckedEntry {
  /** Normalized path relative to the context root, without a trailing slash. */
  path: string;
  kind: EntryKind;
  /** For a symlink: its target as stored (any target is kept, as docker keeps links). For a hard link: the normalized path of the entry it links to. */
  linkTarget?: string;
  /** Permission bits including setuid, setgid and sticky (0o7777). */
  mode: number;
  size: number;
  mtime: Date;
}

/** Default maximum number of entries in one context; the checker keeps one map entry per path. */
export const DEFAULT_MAX_ENTRIES = 1_000_000;

/**
 * Checks the entries of a context archive in order and remembers what it has seen, so
 * that an entry can be judged against the ones before it. It rejects absolute paths and
 * paths that climb out of the root. It rejects entries written through a symlink of the
 * archive, and hard links to anything but an earlier file or symlink of the archive. It
 * rejects device nodes, FIFOs, and an entry that turns a directory into a file or back.
 * A symlink may point anywhere as long as nothing is written through it.
 */
export class ArchiveEntryChecker {
  /** Kind of every path seen, including directories that exist only as parents of entries; a hard link counts as its target's kind. */
  private readonly kinds = new Map<string, EntryKind | 'implicit-directory'>();
  private readonly symlinks = new Map<string, string>();
  private count = 0;

  constructor(private readonly maxEntries = DEFAULT_MAX_ENTRIES) {}

  get entryCount(): number {
    return this.count;
  }

  /** Checks one header. Returns undefined for the root directory entry (`./`), which carries nothing to extract. */
  check(header: Header): CheckedEntry | undefined {
    this.count += 1;
    if (this.count > this.maxEntries) {
      throw new ContextError('CONTEXT_TOO_MANY_ENTRIES', `The build context has more than ${this.maxEntries} entries: add generated folders such as node_modules to .dockerignore.`, {
        maxEntries: this.maxEntries,
      });
    }

    const name = header.name;
    const kind = entryKind(header);
    const path = this.checkName(name);
    if (path === '.') {
      if (kind !== 'directory') throw entryError('CONTEXT_ENTRY_CONFLICT', name, 'replaces the context root with a file or link');
      return undefined;
    }

    this.checkAncestors(name, path);
    this.checkReplacement(name, path, kind);
    const linkTarget = kind === 'hardlink' ? this.checkHardLink(name, header.linkname ?? '') : kind === 'symlink' ? (header.linkname ?? '') : undefined;

    this.record(path, kind, linkTarget);
    return { path, kind, linkTarget, mode: header.mode & 0o7777, size: kind === 'file' ? header.size : 0, mtime: header.mtime };
  }

  /** Returns the kind recorded for a path, reporting a hard link as the kind of its target. */
  kindOf(path: string): EntryKind | 'implicit-directory' | undefined {
    return this.kinds.get(path);
  }

  /**
   * Follows symlinks of the archive from `path` to an entry that is not a symlink.
   * Absolute targets count from the context root, as they would inside the image.
   * Returns undefined when the chain leaves the context, loops or ends at a missing path.
   */
  resolve(path: string): string | undefined {
    let current = path;
    for (let hops = 0; hops < 40; hops += 1) {
      const target = this.symlinks.get(current);
      if (target === undefined) return this.kinds.has(current) ? current : undefined;
      const parent = current.split('/').slice(0, -1).join('/');
      const joined = target.startsWith('/') || parent === '' ? target.replace(/^\/+/, '') : `${parent}/${target}`;
      const next = normalizeInside(joined);
      if (next === undefined || next === '.') return undefined;
      current = next;
    }
    return undefined;
  }

  private checkName(name: string): string {
    if (name === '' || name.includes('\0')) throw entryError('CONTEXT_ENTRY_NAME_INVALID', name, 'has an empty name or a NUL byte in its name');
    if (name.startsWith('/')) throw entryError('CONTEXT_ENTRY_ABSOLUTE_PATH', name, 'has an absolute path');
    const path = normalizeInside(name);
    if (path === undefined) throw entryError('CONTEXT_ENTRY_OUTSIDE_ROOT', name, 'climbs out of the context root with ".."');
    return path;
  }

  private checkAncestors(name: string, path: string): void {
    for (const ancestor of ancestorsOf(path)) {
      const target = this.symlinks.get(ancestor);
      if (target !== undefined) {
        throw entryError('CONTEXT_ENTRY_THROUGH_SYMLINK', name, `would be written through the symlink ${JSON.stringify(ancestor)} -> ${JSON.stringify(target)}`, { symlink: ancestor });
      }
      const kind = this.kinds.get(ancestor);
      if (kind === 'file' || kind === 'hardlink') throw entryError('CONTEXT_ENTRY_CONFLICT', name, `is inside ${JSON.stringify(ancestor)}, which is a file`);
    }
  }

  private checkReplacement(name: string, path: string, kind: EntryKind): void {
    const previous = this.kinds.get(path);
    if (previous === undefined) return;
    const wasDirectory = previous === 'directory' || previous === 'implicit-directory';
    if (wasDirectory !== (kind === 'directory')) {
      throw entryError('CONTEXT_ENTRY_CONFLICT', name, wasDirectory ? 'replaces a directory with a file or link' : 'replaces a file or link with a directory');
    }
  }

  private checkHardLink(name: string, linkname: string): string {
    const target = linkname.startsWith('/') ? undefined : normalizeInside(linkname);
    if (target === undefined || target === '.') {
      throw entryError('CONTEXT_HARDLINK_OUTSIDE_ROOT', name, `is a hard link to ${JSON.stringify(linkname)}, outside the context`, { linkTarget: linkname });
    }
    const kind = this.kinds.get(target);
    if (kind !== 'file' && kind !== 'symlink' && kind !== 'hardlink') {
      throw entryError('CONTEXT_HARDLINK_TARGET_MISSING', name, `is a hard link to ${JSON.stringify(linkname)}, which is not an earlier file of the archive`, { linkTarget: linkname });
    }
    return target;
  }

  private record(path: string, kind: EntryKind, linkTarget: string | undefined): void {
    for (const ancestor of ancestorsOf(path)) if (!this.kinds.has(ancestor)) this.kinds.set(ancestor, 'implicit-directory');
    let stored: EntryKind = kind;
    if (kind === 'hardlink') stored = this.kinds.get(linkTarget!) === 'symlink' ? 'symlink' : 'file';
    this.kinds.set(path, stored);
    if (kind === 'symlink') this.symlinks.set(path, linkTarget!);
    else if (kind === 'hardlink' && this.symlinks.has(linkTarget!)) this.symlinks.set(path, this.symlinks.get(linkTarget!)!);
    else this.symlinks.delete(path);
  }
}

function entryKind(header: Header): EntryKind {
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'hardlink';
    case 'block-device':
    case 'character-device':
      throw entryError('CONTEXT_ENTRY_DEVICE', header.name, `is a ${header.type.replace('-', ' ')} node`);
    default:
      throw entryError('CONTEXT_ENTRY_UNSUPPORTED_TYPE', header.name, `has the type ${header.type ?? 'unknown'}, which a build context cannot hold (only files, directories and links)`);
  }
}
