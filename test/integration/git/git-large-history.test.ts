import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { busyboxWebDockerfile, importBusyboxImage } from '../cli/support/busybox-image.ts';
import { GitClient, remoteBranch, repositoryUrl } from './support/git-client.ts';

/** Five commits that each replace a 20 MiB file of random bytes, which git cannot compress or delta: 100 MiB of history. */
const COMMITS = 5;
const FILE_BYTES = 20 * 1024 * 1024;

let server: SlipwayServer;
let git: GitClient;
let scratch: string;

beforeAll(async () => {
  server = await startSlipwayServer('git-large');
  await importBusyboxImage(server);
  git = await GitClient.create();
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-git-large-'));
});

afterAll(async () => {
  await server?.stop();
  await git?.remove();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('a repository with 100 MiB of history', () => {
  it('is pushed, built and released', async () => {
    expect((await server.api('POST', '/v1/apps', { name: 'large' })).status).toBe(201);
    const repo = await git.init(path.join(scratch, 'large'));
    let head = '';
    for (let index = 1; index <= COMMITS; index += 1) {
      head = await git.commit(
        repo,
        { Dockerfile: busyboxWebDockerfile(), '.dockerignore': '*.bin\n', 'index.html': `large ${index}\n`, 'data.bin': randomBytes(FILE_BYTES) },
        `data ${index}`,
      );
    }
    const url = repositoryUrl(server.apiPort, 'large', server.token);

    const startedAt = Date.now();
    const push = await git.run(repo, ['push', url, 'main']);
    // A measurement for the record, not a condition of the test.
    console.info(`pushed ${(COMMITS * FILE_BYTES) / 1024 ** 2} MiB of history and released it in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('-----> Released v1 of large');
    expect(await remoteBranch(git, repo, url, 'main')).toBe(head);
    expect(await server.get('large', '/')).toEqual({ status: 200, body: `large ${COMMITS}\n` });
  });
});
