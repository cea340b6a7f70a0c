import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../errors.ts';
import { inspectContextArchive, MAX_BUILD_FILE_BYTES } from './inspect-context.ts';
import { createTempFolder, runTar, writeArchive, type FixtureEntry, type TempFolder } from './testing/archive-fixtures.ts';

const DOCKERFILE = 'FROM debian:bookworm\nCOPY . /app\n';

let temp: TempFolder;
beforeEach(async () => {
  temp = await createTempFolder();
});
afterEach(async () => {
  await temp.remove();
});

async function archiveOf(entries: FixtureEntry[], options: { gzip?: boolean } = {}): Promise<string> {
  const file = path.join(temp.path, options.gzip ? 'context.tar.gz' : 'context.tar');
  await writeArchive(file, entries, options);
  return file;
}

async function inspectionError(file: string, options: Parameters<typeof inspectContextArchive>[1] = {}) {
  try {
    await inspectContextArchive(file, options);
  } catch (error) {
    if (!isSlipwayError(error)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
  throw new Error('expected inspectContextArchive to throw');
}

describe('inspectContextArchive', () => {
  it.each([
    ['a plain tar', false],
    ['a gzip-compressed tar', true],
  ])('reads the Dockerfile and counts the entries of %s', async (_name, gzip) => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'src/', type: 'directory' }, { name: 'src/app.py', content: 'print(1)\n' }], { gzip });
    expect(await inspectContextArchive(file)).toEqual({
      compressed: gzip,
      entryCount: 3,
      totalBytes: DOCKERFILE.length + 'print(1)\n'.length,
      dockerfilePath: 'Dockerfile',
      dockerfile: DOCKERFILE,
      dockerignore: null,
    });
  });

  it('reads an archive that GNU tar made from a folder', async () => {
    const project = path.join(temp.path, 'project');
    await mkdir(path.join(project, 'docker'), { recursive: true });
    await writeFile(path.join(project, 'docker', 'Dockerfile.prod'), DOCKERFILE);
    await writeFile(path.join(project, '.dockerignore'), 'node_modules\n');
    await runTar(['-czf', '../context.tgz', '.'], project);

    const inspection = await inspectContextArchive(path.join(temp.path, 'context.tgz'), { dockerfilePath: './docker/Dockerfile.prod' });
    expect(inspection).toMatchObject({ compressed: true, dockerfilePath: 'docker/Dockerfile.prod', dockerfile: DOCKERFILE, dockerignore: 'node_modules\n' });
  });

  it('prefers <dockerfile>.dockerignore over .dockerignore', async () => {
    const file = await archiveOf([
      { name: '.dockerignore', content: 'root-rules\n' },
      { name: 'docker/build.Dockerfile', content: DOCKERFILE },
      { name: 'docker/build.Dockerfile.dockerignore', content: 'specific-rules\n' },
    ]);
    expect((await inspectContextArchive(file, { dockerfilePath: 'docker/build.Dockerfile' })).dockerignore).toBe('specific-rules\n');
  });

  it('falls back to .dockerignore at the root', async () => {
    const file = await archiveOf([{ name: '.dockerignore', content: 'root-rules\n' }, { name: 'docker/build.Dockerfile', content: DOCKERFILE }]);
    expect((await inspectContextArchive(file, { dockerfilePath: 'docker/build.Dockerfile' })).dockerignore).toBe('root-rules\n');
  });

  it.each([
    ['before its target', [{ name: 'Dockerfile', type: 'symlink', linkname: 'docker/Dockerfile.real' }, { name: 'docker/Dockerfile.real', content: DOCKERFILE }]],
    ['after its target', [{ name: 'docker/Dockerfile.real', content: DOCKERFILE }, { name: 'Dockerfile', type: 'symlink', linkname: 'docker/Dockerfile.real' }]],
    ['with an absolute target inside the context', [{ name: 'real', content: DOCKERFILE }, { name: 'Dockerfile', type: 'symlink', linkname: '/real' }]],
  ] as [string, FixtureEntry[]][])('follows a Dockerfile symlink %s', async (_name, entries) => {
    expect((await inspectContextArchive(await archiveOf(entries))).dockerfile).toBe(DOCKERFILE);
  });

  it('allows a symlink that points outside when nothing is written through it', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'etc-link', type: 'symlink', linkname: '/etc' }, { name: 'up', type: 'symlink', linkname: '../..' }]);
    expect((await inspectContextArchive(file)).entryCount).toBe(3);
  });

  it('accepts a hard link to an earlier file', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'copy', type: 'link', linkname: 'Dockerfile' }]);
    expect((await inspectContextArchive(file)).entryCount).toBe(2);
  });
});

describe('inspectContextArchive rejects', () => {
  it.each([
    ['an absolute path', [{ name: '/etc/x', content: 'x' }], 'CONTEXT_ENTRY_ABSOLUTE_PATH', '/etc/x'],
    ['a path that climbs out', [{ name: '../x', content: 'x' }], 'CONTEXT_ENTRY_OUTSIDE_ROOT', '../x'],
    ['a path that climbs out from a folder', [{ name: 'a/../../x', content: 'x' }], 'CONTEXT_ENTRY_OUTSIDE_ROOT', 'a/../../x'],
    ['a write through an absolute symlink', [{ name: 'link', type: 'symlink', linkname: '/etc' }, { name: 'link/passwd', content: 'x' }], 'CONTEXT_ENTRY_THROUGH_SYMLINK', 'link/passwd'],
    ['a write through a climbing symlink', [{ name: 'link', type: 'symlink', linkname: '../..' }, { name: 'link/passwd', content: 'x' }], 'CONTEXT_ENTRY_THROUGH_SYMLINK', 'link/passwd'],
    ['a deep write through a symlink', [{ name: 'a/link', type: 'symlink', linkname: '/' }, { name: 'a/link/etc/cron.d/x', content: 'x' }], 'CONTEXT_ENTRY_THROUGH_SYMLINK', 'a/link/etc/cron.d/x'],
    ['a hard link to an absolute path', [{ name: 'shadow', type: 'link', linkname: '/etc/shadow' }], 'CONTEXT_HARDLINK_OUTSIDE_ROOT', 'shadow'],
    ['a hard link that climbs out', [{ name: 'shadow', type: 'link', linkname: '../../etc/shadow' }], 'CONTEXT_HARDLINK_OUTSIDE_ROOT', 'shadow'],
    ['a hard link to a missing entry', [{ name: 'copy', type: 'link', linkname: 'not-there' }], 'CONTEXT_HARDLINK_TARGET_MISSING', 'copy'],
    ['a hard link to a directory', [{ name: 'dir/', type: 'directory' }, { name: 'copy', type: 'link', linkname: 'dir' }], 'CONTEXT_HARDLINK_TARGET_MISSING', 'copy'],
    ['a character device', [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3 }], 'CONTEXT_ENTRY_DEVICE', 'null'],
    ['a block device', [{ name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }], 'CONTEXT_ENTRY_DEVICE', 'sda'],
    ['a FIFO', [{ name: 'pipe', type: 'fifo' }], 'CONTEXT_ENTRY_UNSUPPORTED_TYPE', 'pipe'],
    ['a file inside a file', [{ name: 'a', content: 'x' }, { name: 'a/b', content: 'y' }], 'CONTEXT_ENTRY_CONFLICT', 'a/b'],
    ['a symlink that replaces a folder', [{ name: 'a/b', content: 'x' }, { name: 'a', type: 'symlink', linkname: '/etc' }], 'CONTEXT_ENTRY_CONFLICT', 'a'],
  ] as [string, FixtureEntry[], string, string][])('%s', async (_name, entries, code, entry) => {
    const error = await inspectionError(await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, ...entries]));
    expect(error.code).toBe(code);
    expect(error.details.entry).toBe(entry);
    expect(error.message).toContain(JSON.stringify(entry));
  });

  it('an absolute path made by GNU tar', async () => {
    await writeFile(path.join(temp.path, 'Dockerfile'), DOCKERFILE);
    await runTar(['-cf', 'abs.tar', '--absolute-names', path.join(temp.path, 'Dockerfile')], temp.path);
    const error = await inspectionError(path.join(temp.path, 'abs.tar'));
    expect(error.code).toBe('CONTEXT_ENTRY_ABSOLUTE_PATH');
    expect(error.message).toContain(path.join(temp.path, 'Dockerfile'));
  });

  it('a climbing path made by GNU tar --transform', async () => {
    await writeFile(path.join(temp.path, 'evil'), 'x');
    await runTar(['-cf', 'climb.tar', '--transform', 's,^evil,../../evil,', 'evil'], temp.path);
    expect(await inspectionError(path.join(temp.path, 'climb.tar'))).toMatchObject({ code: 'CONTEXT_ENTRY_OUTSIDE_ROOT', details: { entry: '../../evil' } });
  });

  it('a write through a symlink made by GNU tar', async () => {
    const project = path.join(temp.path, 'p');
    await mkdir(path.join(project, 'real'), { recursive: true });
    await writeFile(path.join(project, 'real', 'passwd'), 'x');
    await symlink('/etc', path.join(project, 'link'));
    await runTar(['-cf', '../sym.tar', 'link', '--transform', 's,^real,link,', 'real/passwd'], project);
    expect(await inspectionError(path.join(temp.path, 'sym.tar'))).toMatchObject({ code: 'CONTEXT_ENTRY_THROUGH_SYMLINK', details: { entry: 'link/passwd' } });
  });

  it.each([
    ['text', 'this is not an archive\n'.repeat(40), /neither a tar archive nor gzip-compressed/],
    ['an empty body', '', /empty/],
    ['xz data', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x00]), /compressed with xz/],
  ])('%s as CONTEXT_NOT_A_TAR', async (_name, body, message) => {
    const file = path.join(temp.path, 'body');
    await writeFile(file, body);
    const error = await inspectionError(file);
    expect(error.code).toBe('CONTEXT_NOT_A_TAR');
    expect(error.message).toMatch(message);
    expect(error.message).toContain('tar');
  });

  it('gzip-compressed text as CONTEXT_NOT_A_TAR', async () => {
    const file = path.join(temp.path, 'text.gz');
    await writeFile(file, gzipSync('hello\n'.repeat(200)));
    expect(await inspectionError(file)).toMatchObject({ code: 'CONTEXT_NOT_A_TAR' });
  });

  it('a truncated archive as CONTEXT_ARCHIVE_CORRUPT', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'big', content: Buffer.alloc(64 * 1024, 1) }]);
    await writeFile(file, (await readFile(file)).subarray(0, 20 * 1024));
    expect(await inspectionError(file)).toMatchObject({ code: 'CONTEXT_ARCHIVE_CORRUPT' });
  });

  it.each([
    ['missing', [{ name: 'README.md', content: 'x' }], 'Dockerfile', /no such file/],
    ['a directory', [{ name: 'Dockerfile/', type: 'directory' }], 'Dockerfile', /is a directory/],
    ['a symlink out of the context', [{ name: 'Dockerfile', type: 'symlink', linkname: '../../Dockerfile' }], 'Dockerfile', /leads outside/],
    ['at another path', [{ name: 'Dockerfile', content: DOCKERFILE }], 'docker/Dockerfile', /no such file/],
  ] as [string, FixtureEntry[], string, RegExp][])('a Dockerfile that is %s as DOCKERFILE_NOT_FOUND', async (_name, entries, dockerfilePath, reason) => {
    const error = await inspectionError(await archiveOf(entries), { dockerfilePath });
    expect(error.code).toBe('DOCKERFILE_NOT_FOUND');
    expect(error.message).toContain(JSON.stringify(dockerfilePath));
    expect(error.message).toMatch(reason);
    expect(error.message).toContain('?dockerfile=PATH');
  });

  it.each(['/etc/Dockerfile', '../Dockerfile', 'a/../../Dockerfile', ''])('the Dockerfile path %j as DOCKERFILE_PATH_INVALID', async (dockerfilePath) => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }]);
    expect(await inspectionError(file, { dockerfilePath })).toMatchObject({ code: 'DOCKERFILE_PATH_INVALID' });
  });

  it('a Dockerfile over 1 MiB', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: Buffer.alloc(MAX_BUILD_FILE_BYTES + 1, 0x41) }]);
    const error = await inspectionError(file);
    expect(error.code).toBe('DOCKERFILE_TOO_LARGE');
    expect(error.message).toContain(String(MAX_BUILD_FILE_BYTES));
  });

  it('more entries than the limit', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'a', content: 'a' }, { name: 'b', content: 'b' }]);
    expect(await inspectionError(file, { maxEntries: 2 })).toMatchObject({ code: 'CONTEXT_TOO_MANY_ENTRIES' });
  });

  it('more unpacked bytes than the limit', async () => {
    const file = await archiveOf([{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'zeros', content: Buffer.alloc(4096) }], { gzip: true });
    expect(await inspectionError(file, { maxUnpackedBytes: 1024 })).toMatchObject({ code: 'CONTEXT_UNPACKED_TOO_LARGE' });
  });
});
