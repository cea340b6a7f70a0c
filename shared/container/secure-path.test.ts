import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SYMLINKS, resolveInRoot } from './secure-path.ts';

describe('resolveInRoot', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'slipway-secure-path-'));
    await mkdir(path.join(root, 'usr/lib'), { recursive: true });
    await mkdir(path.join(root, 'srv/app'), { recursive: true });
    await writeFile(path.join(root, 'usr/lib/file'), 'data');
    await writeFile(path.join(root, 'plain-file'), 'data');

    await symlink('/usr/lib', path.join(root, 'lib'));
    await symlink('/etc', path.join(root, 'etc-link'));
    await symlink('../../../../..', path.join(root, 'srv/app/up'));
    await symlink('usr', path.join(root, 'relative-usr'));
    await symlink('lib', path.join(root, 'link-to-link'));
    await symlink('/loop-b', path.join(root, 'loop-a'));
    await symlink('/loop-a', path.join(root, 'loop-b'));
    await symlink('loop-self', path.join(root, 'loop-self'));
    await symlink('/missing/target', path.join(root, 'dangling'));
    await symlink('/srv/app/up/etc/passwd', path.join(root, 'escape-via-chain'));
    await symlink('/'.repeat(3) + '..//../usr/./lib', path.join(root, 'messy'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([
    ['a plain path', '/usr/lib/file', 'usr/lib/file'],
    ['a relative path as if from /', 'usr/lib/file', 'usr/lib/file'],
    ['an absolute link restarting at the root', '/lib/file', 'usr/lib/file'],
    ['a relative link', '/relative-usr/lib', 'usr/lib'],
    ['a link to a link', '/link-to-link/file', 'usr/lib/file'],
    ['a link whose target has redundant parts', '/messy/file', 'usr/lib/file'],
    ['.. chains that stop at the root', '/../../../usr/../../usr/lib', 'usr/lib'],
    ['a relative link climbing above the root', '/srv/app/up/etc/passwd', 'etc/passwd'],
    ['a link chain that tries to escape', '/escape-via-chain', 'etc/passwd'],
    ['a dangling link, to its target in the root', '/dangling', 'missing/target'],
    ['a missing final component', '/usr/lib/new-file', 'usr/lib/new-file'],
    ['missing components after an absolute link', '/etc-link/app/config', 'etc/app/config'],
    ['.. after a missing component', '/srv/new/../app', 'srv/app'],
    ['a file used as a folder', '/plain-file/child', 'plain-file/child'],
    ['the root itself', '/', ''],
  ])('resolves %s', async (_case, unsafePath, expected) => {
    const resolved = await resolveInRoot(root, unsafePath);

    expect(resolved).toBe(path.join(root, expected));
  });

  it('keeps the result under the root for every case', async () => {
    const paths = ['/srv/app/up/../../..', '/lib/../../../..', '/escape-via-chain/../../..'];

    for (const unsafePath of paths) {
      const resolved = await resolveInRoot(root, unsafePath);
      expect(resolved === root || resolved.startsWith(root + path.sep)).toBe(true);
    }
  });

  it.each([
    ['two links pointing at each other', '/loop-a'],
    ['a link pointing at itself', '/loop-self/file'],
  ])('rejects %s', async (_case, unsafePath) => {
    await expect(resolveInRoot(root, unsafePath)).rejects.toMatchObject({ code: 'PATH_SYMLINK_LOOP' });
  });

  it('follows a chain of exactly the maximum number of links', async () => {
    const chainRoot = await mkdtemp(path.join(tmpdir(), 'slipway-secure-chain-'));
    try {
      await mkdir(path.join(chainRoot, 'end'));
      await symlink('/end', path.join(chainRoot, `link-${MAX_SYMLINKS}`));
      for (let index = MAX_SYMLINKS - 1; index >= 1; index -= 1) {
        await symlink(`/link-${index + 1}`, path.join(chainRoot, `link-${index}`));
      }

      await expect(resolveInRoot(chainRoot, '/link-1')).resolves.toBe(path.join(chainRoot, 'end'));
      await symlink('/link-1', path.join(chainRoot, 'link-0'));
      await expect(resolveInRoot(chainRoot, '/link-0')).rejects.toMatchObject({ code: 'PATH_SYMLINK_LOOP' });
    } finally {
      await rm(chainRoot, { recursive: true, force: true });
    }
  });

  it('rejects a relative root', async () => {
    await expect(resolveInRoot('relative/root', '/etc')).rejects.toMatchObject({ code: 'ROOT_PATH_INVALID' });
  });
});
