import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { busyboxWebDockerfile, importBusyboxImage } from '../cli/support/busybox-image.ts';
import { GitClient, remoteBranch, repositoryUrl } from './support/git-client.ts';

let server: SlipwayServer;
let git: GitClient;
let scratch: string;

beforeAll(async () => {
  server = await startSlipwayServer('git-push');
  await importBusyboxImage(server);
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-push-'));
});

afterAll(async () => {
  await server?.stop();
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function createApp(name: string): Promise<string> {
  const response = await server.api('POST', '/v1/apps', { name });
  expect(response.status).toBe(201);
  return repositoryUrl(server.apiPort, name, server.token);
}

async function releasesOf(app: string): Promise<{ version: string; gitCommit: string | null; gitRef: string | null; current: boolean }[]> {
  return ((await (await server.api('GET', `/v1/apps/${app}/releases`)).json()) as { releases: never[] }).releases;
}

describe('git push to main', () => {
  let repo: string;
  let url: string;
  let first: string;

  beforeAll(async () => {
    url = await createApp('pushed');
    repo = await git.init(path.join(scratch, 'pushed'));
    first = await git.commit(repo, { Dockerfile: busyboxWebDockerfile(['RUN echo building from git']), 'index.html': 'first\n' }, 'first');
  });

  it('builds the commit, shows the build live and ends with the URL', async () => {
    const push = await git.run(repo, ['push', url, 'main']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain(`remote: -----> Building pushed from main (${first.slice(0, 7)})`);
    expect(push.stderr).toMatch(/remote: #\d+ \[2\/3\] COPY index.html \/www\/index.html/);
    expect(push.stderr).toContain('remote: building from git');
    expect(push.stderr).toContain(`remote: -----> Released v1 of pushed: http://pushed.localhost:${server.httpPort}/`);
    expect(push.stderr).toContain('* [new branch]      main -> main');
  });

  it('serves the pushed commit', async () => {
    expect(await server.get('pushed', '/')).toEqual({ status: 200, body: 'first\n' });
  });

  it('records the commit and ref on the release', async () => {
    const [release] = await releasesOf('pushed');
    expect(release).toMatchObject({ version: 'v1', gitCommit: first, gitRef: 'refs/heads/main', current: true });
  });

  it('rejects a push whose build fails and leaves the branch where it was', async () => {
    const broken = await git.commit(repo, { Dockerfile: busyboxWebDockerfile(['RUN echo about to fail && exit 7']) }, 'broken');
    const push = await git.run(repo, ['push', url, 'main']);

    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: about to fail');
    expect(push.stderr).toContain('failed with exit code 7');
    expect(push.stderr).toContain('remote: !     Push rejected, the build failed. pushed keeps serving v1.');
    expect(push.stderr).toContain('! [remote rejected] main -> main (hook declined)');
    expect(await remoteBranch(git, repo, url, 'main')).toBe(first);
    expect(await server.get('pushed', '/')).toEqual({ status: 200, body: 'first\n' });
    expect(broken).not.toBe(first);
  });

  it('deploys an older commit with a force push', async () => {
    await git.ok(repo, ['reset', '--quiet', '--hard', first]);
    const second = await git.commit(repo, { 'index.html': 'second\n' }, 'second');
    expect((await git.run(repo, ['push', url, 'main'])).code).toBe(0);
    expect(await server.get('pushed', '/')).toEqual({ status: 200, body: 'second\n' });

    await git.ok(repo, ['reset', '--quiet', '--hard', first]);
    const plain = await git.run(repo, ['push', url, 'main']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('[rejected]');

    const forced = await git.run(repo, ['push', '--force', url, 'main']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('(forced update)');
    expect(await remoteBranch(git, repo, url, 'main')).toBe(first);
    expect(await server.get('pushed', '/')).toEqual({ status: 200, body: 'first\n' });
    expect(second).not.toBe(first);
  });

  it('rejects a commit without a Dockerfile and names the fix', async () => {
    await git.ok(repo, ['rm', '--quiet', 'Dockerfile']);
    await git.commit(repo, {}, 'no Dockerfile');
    const push = await git.run(repo, ['push', url, 'main']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('has no Dockerfile');
    expect(push.stderr).toContain('(hook declined)');
    expect(await remoteBranch(git, repo, url, 'main')).toBe(first);
  });
});

describe('pushes from other clones', () => {
  it('deploys from a shallow clone', async () => {
    const upstream = await git.init(path.join(scratch, 'upstream'));
    for (let index = 1; index <= 5; index += 1) {
      await git.commit(upstream, { Dockerfile: busyboxWebDockerfile(), 'index.html': `version ${index}\n` }, `version ${index}`);
    }
    const shallow = path.join(scratch, 'shallow');
    await git.ok(scratch, ['clone', '--quiet', '--depth', '1', `file://${upstream}`, shallow]);
    expect(await git.ok(shallow, ['rev-parse', '--is-shallow-repository'])).toBe('true');

    const url = await createApp('shallow');
    const push = await git.run(shallow, ['push', url, 'main']);
    expect(push.code, push.stderr).toBe(0);
    expect(await server.get('shallow', '/')).toEqual({ status: 200, body: 'version 5\n' });
  });

  it('clones the app repository back with its history', async () => {
    const clone = path.join(scratch, 'cloned');
    const result = await git.run(scratch, ['clone', '--quiet', repositoryUrl(server.apiPort, 'pushed', server.token), clone]);
    expect(result.code, result.stderr).toBe(0);
    expect(await git.ok(clone, ['log', '-1', '--format=%s'])).toBe('first');
  });
});

describe('refs that do not deploy', () => {
  let repo: string;
  let url: string;

  beforeAll(async () => {
    url = await createApp('refs');
    repo = await git.init(path.join(scratch, 'refs'));
    await git.commit(repo, { Dockerfile: busyboxWebDockerfile(), 'index.html': 'refs\n' });
    expect((await git.run(repo, ['push', url, 'main'])).code).toBe(0);
  });

  it('stores a tag without a new release', async () => {
    await git.ok(repo, ['tag', 'v1.0']);
    const push = await git.run(repo, ['push', url, 'v1.0']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('remote: Tag v1.0 stored; tags do not deploy.');
    expect(await releasesOf('refs')).toHaveLength(1);
  });

  it('rejects a ref that is not a branch or tag', async () => {
    const push = await git.run(repo, ['push', url, 'HEAD:refs/notes/commits']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('refs/notes/commits is not a branch or tag');
  });

  it('rejects deleting main', async () => {
    const push = await git.run(repo, ['push', url, ':main']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('Deleting main would leave the app without its source');
    expect(await remoteBranch(git, repo, url, 'main')).not.toBeNull();
  });
});
