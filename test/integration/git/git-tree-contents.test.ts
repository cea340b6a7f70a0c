import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { BUSYBOX_IMAGE, importBusyboxImage } from '../cli/support/busybox-image.ts';
import { GitClient, repositoryUrl } from './support/git-client.ts';

/** A Git LFS pointer file as git-lfs writes it (spec v1), which a repository keeps in place of a large file. */
const LFS_POINTER = 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n';

/**
 * Each RUN checks one property of the build context inside the build and fails the
 * build, and so the push, when it does not hold. The served files are compared as well.
 */
const DOCKERFILE = [
  `FROM ${BUSYBOX_IMAGE}`,
  'COPY . /www/',
  'RUN [ -L /www/link.html ] && [ "$(readlink /www/link.html)" = index.html ] && echo "symlink kept"',
  'RUN [ -L /www/outside ] && [ "$(readlink /www/outside)" = /etc/host-secret ] && [ ! -e /www/outside ] && echo "outside symlink kept as a link"',
  'RUN grep -qx "version https://git-lfs.github.com/spec/v1" /www/model.bin && echo "lfs pointer kept"',
  'RUN [ -d /www/vendor/lib ] && [ -z "$(ls -A /www/vendor/lib)" ] && echo "submodule not fetched"',
  'EXPOSE 8080',
  'CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]',
  '',
].join('\n');

let server: SlipwayServer;
let git: GitClient;
let scratch: string;
let push: { code: number; stderr: string };

beforeAll(async () => {
  server = await startSlipwayServer('git-tree');
  await importBusyboxImage(server);
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-tree-'));
  expect((await server.api('POST', '/v1/apps', { name: 'tree' })).status).toBe(201);

  const repo = await git.init(path.join(scratch, 'tree'));
  await symlink('index.html', path.join(repo, 'link.html'));
  await symlink('/etc/host-secret', path.join(repo, 'outside'));
  await git.commit(
    repo,
    {
      Dockerfile: DOCKERFILE,
      'index.html': 'tree\n',
      '.gitattributes': '*.bin filter=lfs diff=lfs merge=lfs -text\n',
      'model.bin': LFS_POINTER,
      '.gitmodules': '[submodule "vendor/lib"]\n\tpath = vendor/lib\n\turl = http://127.0.0.1:9/vendor-lib.git\n',
    },
    'tree contents',
  );
  // A submodule entry (gitlink) naming a commit that no server has: a build that tried to
  // fetch it would fail. It goes straight into the index, as `git submodule add` puts it.
  await git.ok(repo, ['update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/lib`]);
  await git.ok(repo, ['commit', '--quiet', '-m', 'add the submodule']);
  expect(await git.ok(repo, ['ls-tree', 'HEAD', 'vendor/lib'])).toMatch(/^160000 commit 1{40}\tvendor\/lib$/);

  push = await git.run(repo, ['push', repositoryUrl(server.apiPort, 'tree', server.token), 'main']);
});

afterAll(async () => {
  await server?.stop();
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the build context of a push', () => {
  it('is built and released', () => {
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('-----> Released v1 of tree');
  });

  it.each([['symlink kept'], ['outside symlink kept as a link'], ['lfs pointer kept'], ['submodule not fetched']])('passes the check "%s"', (line) => {
    expect(push.stderr).toContain(`remote: ${line}`);
  });

  it('serves the LFS pointer file as committed', async () => {
    expect(await server.get('tree', '/model.bin')).toEqual({ status: 200, body: LFS_POINTER });
  });

  it('serves a file through the symlink', async () => {
    expect(await server.get('tree', '/link.html')).toEqual({ status: 200, body: 'tree\n' });
  });
});
