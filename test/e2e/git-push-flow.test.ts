import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config.ts';
import { runSlipway } from '../integration/cli/support/cli-runner.ts';
import { GitClient } from '../integration/git/support/git-client.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';

/**
 * The README's git workflow with the flask-hello example: create the app, add its git
 * remote with the CLI, and deploy with `git push`. The build installs Flask with
 * apt-get, so it needs the Debian mirror (skipped with SLIPWAY_SKIP_DEBOOTSTRAP=1).
 */
describe.skipIf(process.env.SLIPWAY_SKIP_DEBOOTSTRAP === '1')('flask-hello, deployed with git push', () => {
  let server: SlipwayServer;
  let git: GitClient;
  let scratch: string;
  let repo: string;

  /** Runs the CLI in the repository with the git client's home folder, so both use the same credential store. */
  function slipway(...args: string[]) {
    return runSlipway(args, { env: { ...server.env, ...git.env }, cwd: repo });
  }

  beforeAll(async () => {
    server = await startSlipwayServer('git-flow');
    git = await GitClient.create();
    scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-git-'));
    const baseImages = await server.cli(['base-images']);
    expect(baseImages.code, baseImages.stderr).toBe(0);

    repo = path.join(scratch, 'flask-hello');
    await cp(path.join(PROJECT_ROOT, 'examples', 'flask-hello'), repo, { recursive: true });
    await git.init(repo);
    await git.commit(repo, {}, 'flask-hello');
  });

  afterAll(async () => {
    await server?.stop();
    await git?.remove();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('creates the app and its git remote', async () => {
    expect((await slipway('apps', 'create', 'hello')).code).toBe(0);
    const remote = await slipway('git-remote', 'hello');
    expect(remote.code, remote.stderr).toBe(0);
    expect(remote.stdout).toContain('Deploy with: git push slipway main');
  });

  it('builds and releases a push, showing the build as remote lines', async () => {
    const push = await git.run(repo, ['push', 'slipway', 'main']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/remote: #\d+ \[\d\/\d\] RUN apt-get/);
    expect(push.stderr).toContain(`remote: -----> Released v1 of hello: http://hello.localhost:${server.httpPort}/`);
    expect(await server.get('hello', '/')).toEqual({ status: 200, body: 'Hello World' });
  });

  it('releases the next commit with the build cache', async () => {
    const appFile = path.join(repo, 'app', 'app.py');
    await writeFile(appFile, (await readFile(appFile, 'utf8')).replace('return "Hello World"', 'return "Hello from git"'));
    const commit = await git.commit(repo, {}, 'Say hello from git');

    const push = await git.run(repo, ['push', 'slipway', 'main']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/remote: #\d+ CACHED/);
    expect(await server.get('hello', '/')).toEqual({ status: 200, body: 'Hello from git' });

    const releases = await slipway('releases');
    expect(releases.stdout).toMatch(new RegExp(`^\\*v2\\s+active\\s+git main ${commit.slice(0, 7)}\\s+`, 'm'));
  });

  it("shows the app's output with the app taken from the git remote", async () => {
    const logs = await slipway('logs');
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('Running on');
  });
});
