import { createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, readlink, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSlipwayError, type SlipwayError } from '../errors.ts';
import { extractContext } from './extract-context.ts';
import { inspectContextArchive } from './inspect-context.ts';
import { packContext, type PackOptions } from './pack-context.ts';
import { createTempFolder, runTar, type TempFolder } from './testing/archive-fixtures.ts';

let temp: TempFolder;
let project: string;
beforeEach(async () => {
  temp = await createTempFolder();
  project = path.join(temp.path, 'project');
  await mkdir(project);
});
afterEach(async () => {
  await temp.remove();
});

async function put(relative: string, content: string, mode?: number): Promise<void> {
  const file = path.join(project, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  if (mode !== undefined) await chmod(file, mode);
}

async function packTo(options: PackOptions = {}): Promise<string> {
  const file = path.join(temp.path, 'context.tar.gz');
  await pipeline(packContext(project, options), createWriteStream(file));
  return file;
}

/** Entry names as GNU tar lists them, sorted. */
async function tarListing(file: string): Promise<string[]> {
  await runTar(['-tzf', file, '--index-file', path.join(temp.path, 'listing')], temp.path);
  return (await readFile(path.join(temp.path, 'listing'), 'utf8')).trim().split('\n').sort();
}

/** Describes every path under `root` with its kind, mode and content or link target. */
async function describeTree(root: string, relative = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(path.join(root, relative))).sort()) {
    const child = relative === '' ? name : `${relative}/${name}`;
    const absolute = path.join(root, child);
    const info = await lstat(absolute);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isDirectory()) lines.push(`${child}/ ${mode}`, ...(await describeTree(root, child)));
    else if (info.isSymbolicLink()) lines.push(`${child} -> ${await readlink(absolute)}`);
    else lines.push(`${child} ${mode} ${await readFile(absolute, 'utf8')}`);
  }
  return lines;
}

describe('packContext', () => {
  it('packs modes, symlinks and owner 0', async () => {
    await put('Dockerfile', 'FROM debian\n');
    await put('bin/run.sh', '#!/bin/sh\n', 0o755);
    await symlink('../Dockerfile', path.join(project, 'bin', 'link'));
    const file = await packTo();

    expect(await tarListing(file)).toEqual(['Dockerfile', 'bin/', 'bin/link', 'bin/run.sh']);
    await runTar(['-tvzf', file, '--index-file', path.join(temp.path, 'verbose')], temp.path);
    const verbose = await readFile(path.join(temp.path, 'verbose'), 'utf8');
    expect(verbose).toMatch(/-rwxr-xr-x 0\/0 .* bin\/run\.sh/);
    expect(verbose).toMatch(/lrwxrwxrwx 0\/0 .* bin\/link -> \.\.\/Dockerfile/);
  });

  it('honours .dockerignore from the folder and packs .git unless it is excluded', async () => {
    await put('Dockerfile', 'FROM debian\n');
    await put('.dockerignore', 'node_modules\n*.log\n');
    await put('node_modules/x/index.js', 'x');
    await put('debug.log', 'x');
    await put('.git/HEAD', 'ref: refs/heads/main\n');
    expect(await tarListing(await packTo())).toEqual(['.dockerignore', '.git/', '.git/HEAD', 'Dockerfile']);
  });

  it('prefers <dockerfile>.dockerignore in the folder', async () => {
    await put('docker/app.Dockerfile', 'FROM debian\n');
    await put('docker/app.Dockerfile.dockerignore', 'secrets\n');
    await put('.dockerignore', 'public\n');
    await put('secrets/key', 'k');
    await put('public/index.html', 'p');
    expect(await tarListing(await packTo({ dockerfile: 'docker/app.Dockerfile' }))).toEqual([
      '.dockerignore',
      'docker/',
      'docker/app.Dockerfile',
      'docker/app.Dockerfile.dockerignore',
      'public/',
      'public/index.html',
    ]);
  });

  it('always packs the Dockerfile and the ignore file, even from an excluded folder', async () => {
    await put('docker/Dockerfile', 'FROM debian\n');
    await put('docker/other', 'x');
    await put('.dockerignore', 'docker\n.dockerignore\n');
    expect(await tarListing(await packTo({ dockerfile: 'docker/Dockerfile' }))).toEqual(['.dockerignore', 'docker/Dockerfile']);
  });

  it('takes the rules from the options when given, and packs everything for null', async () => {
    await put('Dockerfile', 'FROM debian\n');
    await put('.dockerignore', 'a\n');
    await put('a', 'x');
    await put('b', 'y');
    expect(await tarListing(await packTo({ dockerignore: 'b\n' }))).toEqual(['.dockerignore', 'Dockerfile', 'a']);
    expect(await tarListing(await packTo({ dockerignore: null }))).toEqual(['.dockerignore', 'Dockerfile', 'a', 'b']);
  });

  it('reports the bytes read as it goes', async () => {
    await put('Dockerfile', 'FROM debian\n');
    await put('data.bin', 'x'.repeat(200_000));
    const reports: number[] = [];
    await packTo({ onProgress: (bytes) => reports.push(bytes) });
    expect(reports.at(-1)).toBe(200_000 + 'FROM debian\n'.length);
    expect(reports).toEqual([...reports].sort((a, b) => a - b));
  });

  it('fails the stream for an invalid Dockerfile path', async () => {
    const error = await pipeline(packContext(project, { dockerfile: '../Dockerfile' }), createWriteStream(path.join(temp.path, 'x'))).catch((caught: unknown) => caught);
    expect(isSlipwayError(error)).toBe(true);
    expect((error as SlipwayError).code).toBe('DOCKERFILE_PATH_INVALID');
  });

  it('round-trips to the same tree minus ignored files', async () => {
    await put('Dockerfile', 'FROM debian\nCOPY . /app\n');
    await put('.dockerignore', '*.log\nbuild\n!build/keep.txt\n');
    await put('app/main.py', 'print("hi")\n', 0o644);
    await put('app/run.sh', '#!/bin/sh\n', 0o750);
    await put('app/empty', '');
    await put('build/out.o', 'o');
    await put('build/keep.txt', 'keep');
    await put('trace.log', 'log');
    await symlink('/etc/passwd', path.join(project, 'app', 'outside-link'));
    await symlink('main.py', path.join(project, 'app', 'inside-link'));

    const file = await packTo();
    const inspection = await inspectContextArchive(file);
    expect(inspection).toMatchObject({ compressed: true, dockerfile: 'FROM debian\nCOPY . /app\n', dockerignore: '*.log\nbuild\n!build/keep.txt\n' });

    const target = path.join(temp.path, 'extracted');
    await extractContext(file, target, { dockerignore: inspection.dockerignore });
    const expected = (await describeTree(project)).filter((line) => !line.startsWith('trace.log') && !line.startsWith('build/out.o') && !line.startsWith('build/ '));
    const extracted = (await describeTree(target)).filter((line) => !line.startsWith('build/ '));
    expect(extracted).toEqual(expected);
  });
});
