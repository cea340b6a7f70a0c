import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { busyboxWebDockerfile } from '../cli/support/busybox-image.ts';
import { GitClient, repositoryUrl } from './support/git-client.ts';

let server: SlipwayServer;
let git: GitClient;
let scratch: string;
let repo: string;

beforeAll(async () => {
  server = await startSlipwayServer('git-auth');
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-auth-'));
  expect((await server.api('POST', '/v1/apps', { name: 'guarded' })).status).toBe(201);
  repo = await git.init(path.join(scratch, 'guarded'));
  await git.commit(repo, { Dockerfile: busyboxWebDockerfile(), 'index.html': 'guarded\n' });
});

afterAll(async () => {
  await server?.stop();
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function infoRefs(app: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.apiPort}/git/${app}.git/info/refs?service=git-receive-pack`, { headers });
}

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

describe('git endpoint authentication', () => {
  it.each([
    ['no credentials', {}],
    ['a wrong token', basic('anyone', 'swt_not-a-real-token')],
    ['an empty password', basic('slipway', '')],
  ])('answers 401 with a basic challenge for %s', async (_case, headers) => {
    const response = await infoRefs('guarded', headers);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm="Slipway"/);
    expect(await response.text()).toContain('API token as the password');
  });

  it.each([
    ['basic auth with any user name', () => basic('whoever', server.token)],
    ['a bearer token', () => ({ authorization: `Bearer ${server.token}` })],
  ])('accepts %s', async (_case, headers) => {
    const response = await infoRefs('guarded', headers());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-git-receive-pack-advertisement');
    expect((await response.text()).startsWith('001f# service=git-receive-pack\n0000')).toBe(true);
  });

  it('makes git report a failed authentication for a wrong token', async () => {
    const push = await git.run(repo, ['push', repositoryUrl(server.apiPort, 'guarded', 'swt_wrong'), 'main']);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('remote: Slipway needs an API token as the password');
    expect(push.stderr).toContain('Authentication failed');
  });

  it('makes git ask for credentials when the URL has none', async () => {
    const push = await git.run(repo, ['push', `http://127.0.0.1:${server.apiPort}/git/guarded.git`, 'main']);
    expect(push.code).not.toBe(0);
    // GIT_TERMINAL_PROMPT=0 turns git's prompt into this error.
    expect(push.stderr).toContain('could not read Username');
  });

  it("hides another owner's app as missing", async () => {
    const created = await server.api('POST', '/v1/tokens', { owner: 'someone-else' });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const response = await infoRefs('guarded', basic('x', token));
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('App "guarded" does not exist');
  });
});

describe('git endpoint requests', () => {
  it('answers 404 for an app that does not exist, in words git shows', async () => {
    const clone = await git.run(scratch, ['clone', repositoryUrl(server.apiPort, 'nothing-here', server.token), path.join(scratch, 'nothing')]);
    expect(clone.code).not.toBe(0);
    expect(clone.stderr).toContain('remote: App "nothing-here" does not exist');
  });

  it('rejects the dumb HTTP protocol', async () => {
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/git/guarded.git/info/refs`, { headers: basic('x', server.token) });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('smart HTTP protocol only');
  });

  it('rejects a pack request with the wrong content type', async () => {
    const response = await fetch(`http://127.0.0.1:${server.apiPort}/git/guarded.git/git-receive-pack`, {
      method: 'POST',
      headers: { ...basic('x', server.token), 'content-type': 'text/plain' },
      body: '0000',
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Content-Type: application/x-git-receive-pack-request');
  });

  it('serves an empty repository to a clone before the first push', async () => {
    const clone = await git.run(scratch, ['clone', repositoryUrl(server.apiPort, 'guarded', server.token), path.join(scratch, 'empty-clone')]);
    expect(clone.code, clone.stderr).toBe(0);
    expect(clone.stderr).toContain('You appear to have cloned an empty repository');
  });
});
