import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkRuntimeMountFolders, checkWorkingDirectory } from './root-checks.ts';

describe('container root checks', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'slipway-root-checks-'));
    for (const folder of ['proc', 'dev', 'sys', 'app', 'tmp']) await mkdir(path.join(root, folder));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('accepts a root with plain mount folders', async () => {
    await expect(checkRuntimeMountFolders(root)).resolves.toBeUndefined();
  });

  it('accepts a root without mount folders', async () => {
    for (const folder of ['proc', 'dev', 'sys']) await rm(path.join(root, folder), { recursive: true });

    await expect(checkRuntimeMountFolders(root)).resolves.toBeUndefined();
  });

  it.each(['/dev', '/proc', '/sys'])('rejects %s as a symbolic link', async (folder) => {
    await rm(path.join(root, folder), { recursive: true });
    await symlink('/tmp', path.join(root, folder));

    await expect(checkRuntimeMountFolders(root)).rejects.toMatchObject({ code: 'CONTAINER_ROOT_UNSAFE', status: 400 });
  });

  it('names the link target in the error', async () => {
    await rm(path.join(root, 'dev'), { recursive: true });
    await symlink('../../etc', path.join(root, 'dev'));

    await expect(checkRuntimeMountFolders(root)).rejects.toThrow(/\/dev is a symbolic link to "\.\.\/\.\.\/etc"/);
  });

  it('rejects /dev as a file', async () => {
    await rm(path.join(root, 'dev'), { recursive: true });
    await writeFile(path.join(root, 'dev'), '');

    await expect(checkRuntimeMountFolders(root)).rejects.toThrow(/\/dev is not a folder/);
  });

  it.each(['/', '/app', '/tmp/work', '/procfs', '/srv/proc'])('accepts the working directory %s', async (cwd) => {
    await expect(checkWorkingDirectory(root, cwd)).resolves.toBeUndefined();
  });

  it.each(['/proc', '/proc/self/fd/7', '/proc/1/cwd', '/proc/thread-self/fd/8', '//proc/self/fd/7', '/app/../proc/self/fd/9'])(
    'rejects the working directory %s',
    async (cwd) => {
      await expect(checkWorkingDirectory(root, cwd)).rejects.toMatchObject({ code: 'CONTAINER_WORKDIR_UNSAFE', status: 400 });
    },
  );

  it('rejects a working directory that reaches /proc through a symbolic link', async () => {
    await symlink('/proc/self/fd/7', path.join(root, 'app', 'current'));

    await expect(checkWorkingDirectory(root, '/app/current')).rejects.toThrow(/resolves to \/proc\/self\/fd\/7/);
  });
});
