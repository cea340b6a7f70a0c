import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { busyboxWebDockerfile, importBusyboxImage } from '../cli/support/busybox-image.ts';
import { GitClient, remoteBranch, repositoryUrl } from './support/git-client.ts';

/**
 * The first push of each case builds a step that sleeps, so the second push arrives
 * while the first has the lock. The second push starts only once the first has printed
 * that step, so their order does not depend on timing. Only the margins do: the first
 * build sleeps far longer than the second push takes to arrive (well under a second on
 * loopback), and in the last case far longer than the 1 s wait limit.
 */
const SLOW_STEP = 'RUN echo slow build && sleep 3';

let patient: SlipwayServer;
let impatient: SlipwayServer;
let git: GitClient;
let scratch: string;

beforeAll(async () => {
  [patient, impatient] = await Promise.all([startSlipwayServer('git-wait'), startSlipwayServer('git-nowait', { SLIPWAY_GIT_PUSH_WAIT_S: '1' })]);
  await Promise.all([importBusyboxImage(patient), importBusyboxImage(impatient)]);
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-concurrent-'));
});

afterAll(async () => {
  await Promise.all([patient?.stop(), impatient?.stop()]);
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Makes an app with a first release and two clones of its repository at that commit. */
async function appWithTwoClones(server: SlipwayServer, app: string): Promise<{ url: string; first: string; second: string; base: string }> {
  expect((await server.api('POST', '/v1/apps', { name: app })).status).toBe(201);
  const url = repositoryUrl(server.apiPort, app, server.token);
  const first = await git.init(path.join(scratch, `${app}-1`));
  const base = await git.commit(first, { Dockerfile: busyboxWebDockerfile(), 'index.html': 'base\n' }, 'base');
  expect((await git.run(first, ['push', url, 'main'])).code).toBe(0);
  const second = path.join(scratch, `${app}-2`);
  await git.ok(scratch, ['clone', '--quiet', url, second]);
  return { url, first, second, base };
}

async function releasesOf(server: SlipwayServer, app: string): Promise<{ version: string; gitCommit: string; gitRef: string }[]> {
  return ((await (await server.api('GET', `/v1/apps/${app}/releases`)).json()) as { releases: never[] }).releases;
}

describe('a pusher that disconnects', () => {
  it('does not stop the deploy, and the branch moves when it succeeds', async () => {
    const { url, first } = await appWithTwoClones(patient, 'gone');
    const slow = await git.commit(first, { Dockerfile: busyboxWebDockerfile([SLOW_STEP]), 'index.html': 'finished without me\n' }, 'slow');

    const push = git.start(first, ['push', url, 'main']);
    await push.waitForOutput('remote: slow build');
    push.kill();
    expect((await push.done).code).not.toBe(0);

    // The server goes on alone; poll until the branch moves, for at most a minute.
    let branch: string | null = null;
    for (let attempt = 0; attempt < 120 && branch !== slow; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      branch = await remoteBranch(git, first, url, 'main');
    }
    expect(branch).toBe(slow);
    expect(await patient.get('gone', '/')).toEqual({ status: 200, body: 'finished without me\n' });
  });
});

describe('two pushes to one app at once', () => {
  it('takes turns on two branches of one app', async () => {
    const { url, first, second } = await appWithTwoClones(patient, 'turns');
    const slow = await git.commit(first, { Dockerfile: busyboxWebDockerfile([SLOW_STEP]), 'index.html': 'from main\n' }, 'slow');
    const fast = await git.commit(second, { 'index.html': 'from master\n' }, 'fast');

    const pushMain = git.start(first, ['push', url, 'main']);
    await pushMain.waitForOutput('remote: slow build');
    const pushMaster = git.start(second, ['push', url, 'main:master']);
    await pushMaster.waitForOutput('remote: -----> Waiting for the push of main at');
    const [mainResult, masterResult] = await Promise.all([pushMain.done, pushMaster.done]);

    expect(mainResult.code, mainResult.stderr).toBe(0);
    expect(masterResult.code, masterResult.stderr).toBe(0);
    const releases = await releasesOf(patient, 'turns');
    expect(releases.slice(0, 2).map((release) => [release.version, release.gitCommit])).toEqual([
      ['v3', fast],
      ['v2', slow],
    ]);
    expect(await patient.get('turns', '/')).toEqual({ status: 200, body: 'from master\n' });
  });

  it('rejects the second push of a branch that the first one moved meanwhile', async () => {
    const { url, first, second } = await appWithTwoClones(patient, 'stale');
    const slow = await git.commit(first, { Dockerfile: busyboxWebDockerfile([SLOW_STEP]), 'index.html': 'first\n' }, 'slow');
    await git.commit(second, { 'index.html': 'second\n' }, 'second');

    const pushFirst = git.start(first, ['push', url, 'main']);
    await pushFirst.waitForOutput('remote: slow build');
    const pushSecond = git.start(second, ['push', url, 'main']);
    const [firstResult, secondResult] = await Promise.all([pushFirst.done, pushSecond.done]);

    expect(firstResult.code, firstResult.stderr).toBe(0);
    expect(secondResult.code).not.toBe(0);
    expect(secondResult.stderr).toContain('remote: -----> Waiting for the push of main at');
    expect(secondResult.stderr).toContain(`refs/heads/main moved to ${slow.slice(0, 7)} while this push waited for another push.`);
    expect(secondResult.stderr).toContain('fetch, merge or rebase, and push again');
    expect(await remoteBranch(git, first, url, 'main')).toBe(slow);
    expect(await patient.get('stale', '/')).toEqual({ status: 200, body: 'first\n' });
    expect((await releasesOf(patient, 'stale')).map((release) => release.version)).toEqual(['v2', 'v1']);
  });

  it('deploys the second push of a branch when the first one failed', async () => {
    const { url, first, second } = await appWithTwoClones(patient, 'retry');
    await git.commit(first, { Dockerfile: busyboxWebDockerfile([`${SLOW_STEP} && exit 1`]) }, 'broken');
    const good = await git.commit(second, { 'index.html': 'fixed\n' }, 'fixed');

    const pushBroken = git.start(first, ['push', url, 'main']);
    await pushBroken.waitForOutput('remote: slow build');
    const pushGood = git.start(second, ['push', url, 'main']);
    const [brokenResult, goodResult] = await Promise.all([pushBroken.done, pushGood.done]);

    expect(brokenResult.code).not.toBe(0);
    expect(goodResult.code, goodResult.stderr).toBe(0);
    expect(goodResult.stderr).toContain('Waiting for the push of main at');
    expect(await remoteBranch(git, first, url, 'main')).toBe(good);
    expect(await patient.get('retry', '/')).toEqual({ status: 200, body: 'fixed\n' });
  });

  it('rejects the second push with a clear message when the wait runs out', async () => {
    const { url, first, second, base } = await appWithTwoClones(impatient, 'busy');
    await git.commit(first, { Dockerfile: busyboxWebDockerfile([SLOW_STEP]), 'index.html': 'slow\n' }, 'slow');
    await git.commit(second, { 'index.html': 'second\n' }, 'second');

    const pushSlow = git.start(first, ['push', url, 'main']);
    await pushSlow.waitForOutput('remote: slow build');
    const secondResult = await git.run(second, ['push', url, 'main']);

    expect(secondResult.code).not.toBe(0);
    expect(secondResult.stderr).toMatch(/remote: !\s+The push of main at [0-9a-f]{7} is still deploying after 1 s of waiting; push again when it has finished\./);
    expect(secondResult.stderr).toContain('(hook declined)');
    expect(await remoteBranch(git, second, url, 'main')).toBe(base);
    expect((await pushSlow.done).code).toBe(0);
  });
});
