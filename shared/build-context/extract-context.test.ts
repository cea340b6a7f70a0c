import { link, lstat, mkdir, readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSlipwayError, type SlipwayError } from '../errors.ts';
import { extractContext } from './extract-context.ts';
import { createTempFolder, runTar, writeArchive, type FixtureEntry, type TempFolder } from './testing/archive-fixtures.ts';

let temp: TempFolder;
beforeEach(async () => {
  temp = await createTempFolder();
});
afterEach(async () => {
  await temp.remove();
});

async function extractEntries(entries: FixtureEntry[], dockerignore: string | null = null) {
  const file = path.join(temp.path, 'context.tar');
  await writeArchive(file, entries);
  const target = path.join(temp.path, 'out');
  const result = await extractContext(file, target, { dockerignore });
  return { target, result };
}

/** Lists every path under `root`, relative and sorted, with a trailing / on folders. */
async function listTree(root: string, relative = ''): Promise<string[]> {
  const names = (await readdir(path.join(root, relative))).sort();
  const paths: string[] = [];
  for (const name of names) {
    const child = relative === '' ? name : `${relative}/${name}`;
    const info = await lstat(path.join(root, child));
    if (info.isDirectory()) paths.push(`${child}/`, ...(await listTree(root, child)));
    else paths.push(child);
  }
  return paths;
}

describe('extractContext', () => {
  it('writes files, folders and symlinks with their modes', async () => {
    const { target } = await extractEntries([
      { name: 'Dockerfile', content: 'FROM debian\n' },
      { name: 'bin/', type: 'directory', mode: 0o750 },
      { name: 'bin/run.sh', content: '#!/bin/sh\n', mode: 0o755 },
      { name: 'bin/suid', content: 'x', mode: 0o4755 },
      { name: 'secret.txt', content: 's', mode: 0o600 },
      { name: 'etc-link', type: 'symlink', linkname: '/etc' },
    ]);
    expect(await listTree(target)).toEqual(['Dockerfile', 'bin/', 'bin/run.sh', 'bin/suid', 'etc-link', 'secret.txt']);
    expect((await stat(path.join(target, 'bin'))).mode & 0o7777).toBe(0o750);
    expect((await stat(path.join(target, 'bin/run.sh'))).mode & 0o7777).toBe(0o755);
    expect((await stat(path.join(target, 'bin/suid'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(path.join(target, 'secret.txt'))).mode & 0o7777).toBe(0o600);
    expect(await readlink(path.join(target, 'etc-link'))).toBe('/etc');
    expect(await readFile(path.join(target, 'bin/run.sh'), 'utf8')).toBe('#!/bin/sh\n');
  });

  it('ignores the owners in the archive', async () => {
    const { target } = await extractEntries([{ name: 'owned', content: 'x', uid: 1234, gid: 5678 }]);
    expect((await stat(path.join(target, 'owned'))).uid).toBe(process.getuid!());
  });

  it('keeps the modification time', async () => {
    const mtime = new Date('2020-01-02T03:04:05Z');
    const { target } = await extractEntries([{ name: 'dated', content: 'x', mtime }]);
    expect((await stat(path.join(target, 'dated'))).mtime.getTime()).toBe(mtime.getTime());
  });

  it('creates hard links to earlier files', async () => {
    const { target } = await extractEntries([{ name: 'a', content: 'same' }, { name: 'b', type: 'link', linkname: 'a' }]);
    expect((await stat(path.join(target, 'b'))).ino).toBe((await stat(path.join(target, 'a'))).ino);
  });

  it('replaces a symlink without following it', async () => {
    const outside = path.join(temp.path, 'outside.txt');
    await writeFile(outside, 'untouched');
    const { target } = await extractEntries([{ name: 'x', type: 'symlink', linkname: outside }, { name: 'x', content: 'new' }]);
    expect(await readFile(outside, 'utf8')).toBe('untouched');
    expect(await readFile(path.join(target, 'x'), 'utf8')).toBe('new');
    expect((await lstat(path.join(target, 'x'))).isFile()).toBe(true);
  });

  it('rejects a write through a symlink', async () => {
    const file = path.join(temp.path, 'evil.tar');
    await writeArchive(file, [{ name: 'link', type: 'symlink', linkname: temp.path }, { name: 'link/escaped', content: 'x' }]);
    const error = await extractContext(file, path.join(temp.path, 'out')).catch((caught: unknown) => caught);
    expect(isSlipwayError(error)).toBe(true);
    expect((error as SlipwayError).code).toBe('CONTEXT_ENTRY_THROUGH_SYMLINK');
    await expect(stat(path.join(temp.path, 'escaped'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses a target folder that is not empty', async () => {
    const file = path.join(temp.path, 'context.tar');
    await writeArchive(file, [{ name: 'a', content: 'x' }]);
    await mkdir(path.join(temp.path, 'out'));
    await writeFile(path.join(temp.path, 'out', 'existing'), 'x');
    const error = await extractContext(file, path.join(temp.path, 'out')).catch((caught: unknown) => caught);
    expect(isSlipwayError(error)).toBe(true);
    expect((error as SlipwayError).code).toBe('CONTEXT_TARGET_NOT_EMPTY');
  });
});

describe('extractContext with .dockerignore', () => {
  const entries: FixtureEntry[] = [
    { name: 'Dockerfile', content: 'FROM debian\n' },
    { name: '.dockerignore', content: 'ignored in test' },
    { name: 'README.md', content: 'r' },
    { name: 'README-secret.md', content: 's' },
    { name: 'notes.md', content: 'n' },
    { name: 'docs/guide.md', content: 'g' },
    { name: 'node_modules/pkg/index.js', content: 'm' },
    { name: 'node_modules/keep/index.js', content: 'k' },
    { name: 'src/app.go', content: 'a' },
    { name: 'src/deep/x.go', content: 'x' },
    { name: 'src/tempfile', content: 't' },
    { name: '.git/HEAD', content: 'ref' },
  ];

  it.each([
    ['no rules keep everything, .git included', '', ['.git/HEAD', 'README-secret.md', 'README.md', 'docs/guide.md', 'node_modules/keep/index.js', 'node_modules/pkg/index.js', 'notes.md', 'src/app.go', 'src/deep/x.go', 'src/tempfile']],
    ['a folder excludes its contents', 'node_modules\n.git', ['README-secret.md', 'README.md', 'docs/guide.md', 'notes.md', 'src/app.go', 'src/deep/x.go', 'src/tempfile']],
    ['! re-includes inside an excluded folder', 'node_modules\n!node_modules/keep\n.git', ['README-secret.md', 'README.md', 'docs/guide.md', 'node_modules/keep/index.js', 'notes.md', 'src/app.go', 'src/deep/x.go', 'src/tempfile']],
    ['*.md matches only the root', '*.md\n.git\nnode_modules', ['docs/guide.md', 'src/app.go', 'src/deep/x.go', 'src/tempfile']],
    ['**/*.go matches at any depth', '**/*.go\n.git\nnode_modules', ['README-secret.md', 'README.md', 'docs/guide.md', 'notes.md', 'src/tempfile']],
    ['*/temp* matches one level down', '*/temp*\n.git\nnode_modules', ['README-secret.md', 'README.md', 'docs/guide.md', 'notes.md', 'src/app.go', 'src/deep/x.go']],
    ['the last matching line wins', '*.md\n!README*.md\nREADME-secret.md\n.git\nnode_modules\nsrc\ndocs', ['README.md']],
    ['an exception after an exclusion wins', '*.md\nREADME-secret.md\n!README*.md\n.git\nnode_modules\nsrc\ndocs', ['README-secret.md', 'README.md']],
    ['leading and trailing slashes are ignored', '/src/\n.git/\n/node_modules\n# a comment\n', ['README-secret.md', 'README.md', 'docs/guide.md', 'notes.md']],
    ['matching is case-sensitive', 'readme.md\n.git\nnode_modules\nsrc\ndocs\nnotes.md', ['README-secret.md', 'README.md']],
  ])('%s', async (_name, rules, expected) => {
    const { target } = await extractEntries(entries, rules);
    const files = (await listTree(target)).filter((entry) => !entry.endsWith('/') && entry !== 'Dockerfile' && entry !== '.dockerignore');
    expect(files).toEqual(expected);
  });

  it('leaves out the Dockerfile and .dockerignore when they are excluded', async () => {
    const { target, result } = await extractEntries(entries, 'Dockerfile\n.dockerignore\n.git\nnode_modules\nsrc\ndocs\n*.md');
    expect(await listTree(target)).toEqual([]);
    expect(result.ignoredCount).toBe(entries.length);
  });

  it('writes a hard link to an excluded file', async () => {
    const { target } = await extractEntries([{ name: 'build/blob', content: 'shared content', mode: 0o640 }, { name: 'src/blob', type: 'link', linkname: 'build/blob' }], 'build');
    expect(await listTree(target)).toEqual(['src/', 'src/blob']);
    expect(await readFile(path.join(target, 'src/blob'), 'utf8')).toBe('shared content');
    expect((await stat(path.join(target, 'src/blob'))).mode & 0o7777).toBe(0o640);
  });

  it('extracts an archive that GNU tar made, with hard links', async () => {
    const project = path.join(temp.path, 'project');
    await mkdir(path.join(project, 'a'), { recursive: true });
    await writeFile(path.join(project, 'a', 'one'), 'content');
    await link(path.join(project, 'a', 'one'), path.join(project, 'two'));
    await runTar(['-czf', '../gnu.tgz', '.'], project);

    const target = path.join(temp.path, 'out');
    await extractContext(path.join(temp.path, 'gnu.tgz'), target, { dockerignore: null });
    expect(await listTree(target)).toEqual(['a/', 'a/one', 'two']);
    expect((await stat(path.join(target, 'two'))).ino).toBe((await stat(path.join(target, 'a/one'))).ino);
  });
});
