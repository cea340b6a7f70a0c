import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveOwnership, resolveUser } from './user-resolution.ts';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment line',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'app:x:1000:1000::/home/app:/bin/sh',
  'worker:x:1001:100::/home/worker:/bin/sh',
  'broken-line-without-ids',
  '',
].join('\n');

const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'users:x:100:',
  'app:x:1000:',
  'audio:x:29:worker,app',
  'video:x:44:worker',
  'staff:x:50:',
  '',
].join('\n');

async function makeRoot(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'slipway-users-'));
  await mkdir(path.join(root, 'etc'));
  for (const [name, content] of Object.entries(files)) {
    await writeFile(path.join(root, name), content);
  }
  return root;
}

describe('resolveUser', () => {
  let root: string;
  let emptyRoot: string;

  beforeAll(async () => {
    root = await makeRoot({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
    emptyRoot = await makeRoot({});
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(emptyRoot, { recursive: true, force: true });
  });

  it.each([
    ['an empty value as root', '', { uid: 0, gid: 0, additionalGids: [] }],
    ['a name with its primary group', 'app', { uid: 1000, gid: 1000, additionalGids: [29] }],
    ['a name with all groups listing it', 'worker', { uid: 1001, gid: 100, additionalGids: [29, 44] }],
    ['a uid that has a passwd entry', '1001', { uid: 1001, gid: 100, additionalGids: [29, 44] }],
    ['a uid without a passwd entry', '4242', { uid: 4242, gid: 0, additionalGids: [] }],
    ['name:group', 'worker:staff', { uid: 1001, gid: 50, additionalGids: [] }],
    ['uid:gid', '4242:4343', { uid: 4242, gid: 4343, additionalGids: [] }],
    ['name:gid', 'app:7', { uid: 1000, gid: 7, additionalGids: [] }],
    ['surrounding whitespace', '  app  ', { uid: 1000, gid: 1000, additionalGids: [29] }],
  ])('resolves %s', async (_case, spec, expected) => {
    await expect(resolveUser(root, spec)).resolves.toEqual(expected);
  });

  it('resolves a numeric uid in an image without /etc/passwd', async () => {
    await expect(resolveUser(emptyRoot, '1234:55')).resolves.toEqual({ uid: 1234, gid: 55, additionalGids: [] });
  });

  it('rejects an unknown user name and names it', async () => {
    const result = resolveUser(root, 'nobody-here');

    await expect(result).rejects.toMatchObject({ code: 'USER_NOT_FOUND', kind: 'user' });
    await expect(result).rejects.toThrow(/"nobody-here"/);
  });

  it('rejects a user name when the image has no /etc/passwd', async () => {
    await expect(resolveUser(emptyRoot, 'app')).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  });

  it('rejects an unknown group name and names it', async () => {
    const result = resolveUser(root, 'app:no-such-group');

    await expect(result).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
    await expect(result).rejects.toThrow(/"no-such-group"/);
  });

  it.each([['app:'], ['a:b:c']])('rejects the malformed value %j', async (spec) => {
    await expect(resolveUser(root, spec)).rejects.toMatchObject({ code: 'USER_INVALID' });
  });

  it('rejects a uid above 2^31 - 1', async () => {
    await expect(resolveUser(root, '2147483648')).rejects.toMatchObject({ code: 'ID_OUT_OF_RANGE' });
  });

  it('reads /etc/passwd through a symlink that points outside the root', async () => {
    const linkedRoot = await makeRoot({ 'inner-passwd': 'svc:x:777:778::/:/bin/sh\n' });
    try {
      // On the host, /etc/passwd has no "svc"; inside the root the absolute link resolves to /inner-passwd.
      await symlink('/../../inner-passwd', path.join(linkedRoot, 'etc/passwd'));

      await expect(resolveUser(linkedRoot, 'svc')).resolves.toEqual({ uid: 777, gid: 778, additionalGids: [] });
    } finally {
      await rm(linkedRoot, { recursive: true, force: true });
    }
  });

  it('rejects a FIFO planted as /etc/passwd without blocking', async () => {
    const fifoRoot = await makeRoot({});
    try {
      execFileSync('mkfifo', [path.join(fifoRoot, 'etc/passwd')]);

      await expect(resolveUser(fifoRoot, 'app')).rejects.toMatchObject({ code: 'ACCOUNT_FILE_INVALID' });
    } finally {
      await rm(fifoRoot, { recursive: true, force: true });
    }
  });
});

describe('resolveOwnership', () => {
  let root: string;

  beforeAll(async () => {
    root = await makeRoot({ 'etc/passwd': PASSWD, 'etc/group': GROUP });
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([
    ['a user name, using the uid as gid', 'worker', { uid: 1001, gid: 1001 }],
    ['a uid, using it as gid', '55', { uid: 55, gid: 55 }],
    ['name:group', 'worker:staff', { uid: 1001, gid: 50 }],
    ['uid:group name', '55:video', { uid: 55, gid: 44 }],
    ['uid:gid without any lookup', '10:11', { uid: 10, gid: 11 }],
  ])('resolves %s', async (_case, spec, expected) => {
    await expect(resolveOwnership(root, spec)).resolves.toEqual(expected);
  });

  it('rejects an unknown user name', async () => {
    await expect(resolveOwnership(root, 'ghost:staff')).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  });

  it('rejects an unknown group name', async () => {
    await expect(resolveOwnership(root, 'app:ghosts')).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
  });

  it.each([[''], [':staff'], ['app:']])('rejects the malformed value %j', async (spec) => {
    await expect(resolveOwnership(root, spec)).rejects.toMatchObject({ code: 'CHOWN_INVALID' });
  });
});
