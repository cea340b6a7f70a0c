import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { busyboxWebDockerfile, importBusyboxImage } from '../cli/support/busybox-image.ts';
import { GitClient, repositoryUrl } from './support/git-client.ts';

let server: SlipwayServer;
let git: GitClient;
let scratch: string;
let repo: string;
let url: string;

beforeAll(async () => {
  server = await startSlipwayServer('git-preview');
  await importBusyboxImage(server);
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-preview-'));

  expect((await server.api('POST', '/v1/apps', { name: 'site' })).status).toBe(201);
  expect((await server.api('PUT', '/v1/apps/site/env', { GREETING: 'hello' })).status).toBe(200);
  expect((await server.api('POST', '/v1/apps/site/volumes', { name: 'data', path: '/data' })).status).toBe(201);
  url = repositoryUrl(server.apiPort, 'site', server.token);
  repo = await git.init(path.join(scratch, 'site'));
  await git.commit(repo, { Dockerfile: busyboxWebDockerfile(), 'index.html': 'main\n' }, 'main');
  expect((await git.run(repo, ['push', url, 'main'])).code).toBe(0);
});

afterAll(async () => {
  await server?.stop();
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function appJson(name: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await server.api('GET', `/v1/apps/${name}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('a pushed branch', () => {
  const branch = 'Feature/Login_v2';
  const preview = 'site-feature-login-v2';

  it('deploys a preview app named after the branch', async () => {
    await git.ok(repo, ['checkout', '--quiet', '-b', branch]);
    await git.commit(repo, { 'index.html': 'preview\n' }, 'preview');
    const push = await git.run(repo, ['push', url, branch]);

    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain(`remote: -----> Created preview app ${preview} for branch ${branch}: http://${preview}.localhost:${server.httpPort}/`);
    expect(push.stderr).toContain(`remote: -----> Released v1 of ${preview}: http://${preview}.localhost:${server.httpPort}/`);
  });

  it("rejects another branch pushed to the preview app's own repository", async () => {
    const push = await git.run(repo, ['push', repositoryUrl(server.apiPort, preview, server.token), `${branch}:refs/heads/nested`]);

    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('push nested to the repository of the app it previews');
    expect((await appJson(`${preview}-nested`)).status).toBe(404);
  });

  it('serves the branch at the preview URL and main at the app URL', async () => {
    expect(await server.get(preview, '/')).toEqual({ status: 200, body: 'preview\n' });
    expect(await server.get('site', '/')).toEqual({ status: 200, body: 'main\n' });
  });

  it("copies the parent's environment and volume declarations", async () => {
    expect(await (await server.api('GET', `/v1/apps/${preview}/env`)).json()).toEqual({ env: { GREETING: 'hello' } });
    const { volumes } = (await (await server.api('GET', `/v1/apps/${preview}/volumes`)).json()) as { volumes: { name: string; path: string }[] };
    expect(volumes.map(({ name, path: mountPath }) => ({ name, path: mountPath }))).toEqual([{ name: 'data', path: '/data' }]);
  });

  it('links the preview app and its parent in their details', async () => {
    expect((await appJson(preview)).body.preview).toEqual({ parent: 'site', branch });
    expect((await appJson('site')).body.previews).toEqual([{ name: preview, branch, url: `http://${preview}.localhost:${server.httpPort}/` }]);
  });

  it('releases the next push of the branch to the same preview app', async () => {
    await git.commit(repo, { 'index.html': 'preview 2\n' }, 'preview 2');
    const push = await git.run(repo, ['push', url, branch]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).not.toContain('Created preview app');
    expect(push.stderr).toContain(`Released v2 of ${preview}`);
    expect(await server.get(preview, '/')).toEqual({ status: 200, body: 'preview 2\n' });
  });

  it('deletes the preview app when the branch is deleted', async () => {
    const push = await git.run(repo, ['push', url, `:${branch}`]);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain(`remote: -----> Deleted preview app ${preview} of branch ${branch}.`);
    expect(push.stderr).toContain('[deleted]');
    expect((await appJson(preview)).status).toBe(404);
    expect((await server.get(preview, '/')).status).toBe(404);
    expect(await server.get('site', '/')).toEqual({ status: 200, body: 'main\n' });
  });

  it('accepts deleting a branch whose preview app was deleted already', async () => {
    expect((await git.run(repo, ['push', url, 'HEAD:refs/heads/short-lived'])).code).toBe(0);
    expect((await server.api('DELETE', '/v1/apps/site-short-lived')).status).toBe(204);
    const push = await git.run(repo, ['push', url, ':short-lived']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('Branch short-lived deleted; it had no preview app.');
  });
});

describe('preview app names', () => {
  it('fits a long branch name into one DNS label', async () => {
    const branch = `feature/${'very-long-branch-name-'.repeat(4)}end`;
    await git.ok(repo, ['checkout', '--quiet', '-b', branch]);
    const push = await git.run(repo, ['push', url, branch]);
    expect(push.code, push.stderr).toBe(0);

    const name = /Created preview app (\S+) for branch/.exec(push.stderr)?.[1] ?? '';
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^site-feature-very-long-branch-name-[a-z0-9-]*-[0-9a-f]{6}$/);
    expect((await server.get(name, '/')).status).toBe(200);
  });

  it('deletes the preview apps with their parent', async () => {
    const before = ((await appJson('site')).body.previews as { name: string }[]).map((app) => app.name);
    expect(before.length).toBeGreaterThan(0);
    expect((await server.api('DELETE', '/v1/apps/site')).status).toBe(204);
    for (const name of before) expect((await appJson(name)).status).toBe(404);
  });
});
