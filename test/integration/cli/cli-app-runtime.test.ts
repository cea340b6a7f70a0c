import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../shared/config.ts';
import { freePort } from '../../support/free-port.ts';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { GitClient } from '../git/support/git-client.ts';
import { BUSYBOX_IMAGE, importBusyboxImage } from './support/busybox-image.ts';
import { runSlipway } from './support/cli-runner.ts';

/** busybox httpd with -vv logs each request's path to stderr (`<address>: url:/path`), which becomes the app's log. */
const VERBOSE_WEB = [`FROM ${BUSYBOX_IMAGE}`, 'COPY index.html /www/index.html', 'EXPOSE 8080', 'CMD ["/bin/busybox", "httpd", "-f", "-vv", "-p", "8080", "-h", "/www"]', ''].join('\n');

let server: SlipwayServer;
let scratch: string;

beforeAll(async () => {
  server = await startSlipwayServer('cli-runtime');
  await importBusyboxImage(server);
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-cli-runtime-'));
  expect((await slipway('apps', 'create', 'svc')).code).toBe(0);
  for (const version of ['one', 'two']) {
    const dir = path.join(scratch, version);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'Dockerfile'), VERBOSE_WEB);
    await writeFile(path.join(dir, 'index.html'), `${version}\n`);
    const deploy = await slipway('deploy', dir, '--app', 'svc');
    expect(deploy.code, deploy.stderr).toBe(0);
  }
});

afterAll(async () => {
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function slipway(...args: string[]) {
  return runSlipway(args, { env: server.env });
}

describe('releases and rollback', () => {
  it('lists releases newest first with the current one marked', async () => {
    const result = await slipway('releases', '--app', 'svc');
    expect(result.code, result.stderr).toBe(0);
    const rows = result.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^VERSION\s+STATUS\s+SOURCE\s+IMAGE\s+CREATED$/);
    expect(rows[1]).toMatch(/^\*v2\s+active\s+build\s+[0-9a-f]{12}\s+/);
    expect(rows[2]).toMatch(/^ v1\s+superseded\s+build\s+[0-9a-f]{12}\s+/);
  });

  it('rolls back to a named release', async () => {
    const result = await slipway('rollback', 'v1', '--app', 'svc');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Rolling back svc to v1 as v3');
    expect(result.stdout).toContain(`Released v3 of svc (a rollback to v1): http://svc.localhost:${server.httpPort}/`);
    expect(await server.get('svc', '/')).toEqual({ status: 200, body: 'one\n' });
  });

  it('rolls back to the release before the current one without a version', async () => {
    const result = await slipway('rollback', '--app', 'svc');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Rolling back svc to v2 as v4');
    expect(await server.get('svc', '/')).toEqual({ status: 200, body: 'two\n' });
  });

  it('exits 4 for a release that does not exist', async () => {
    const result = await slipway('rollback', 'v99', '--app', 'svc');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('has no release v99');
  });
});

describe('scale', () => {
  it('shows the settings', async () => {
    const result = await slipway('scale', '--app', 'svc', '--json');
    expect(JSON.parse(result.stdout)).toMatchObject({ min: 0, max: 1, concurrency: 80, idle_timeout_s: 300 });
  });

  it('changes only the settings given', async () => {
    const result = await slipway('scale', '--app', 'svc', '--max', '3', '--idle-timeout', '2m');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Max:\s+3$/m);
    expect(result.stdout).toMatch(/^Idle timeout:\s+120s$/m);
    expect(result.stdout).toMatch(/^Min:\s+0$/m);
  });

  it('exits 2 when min is above max and says why', async () => {
    const result = await slipway('scale', '--app', 'svc', '--min', '5');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('min (5) is larger than max (3)');
  });
});

describe('ports', () => {
  let hostPort: number;

  beforeAll(async () => {
    hostPort = await freePort();
  });

  it('publishes a port and lists it', async () => {
    const result = await slipway('ports', 'add', `${hostPort}:8080`, '--app', 'svc');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${hostPort}/tcp\\s+8080/tcp$`, 'm'));
    expect(JSON.parse((await slipway('ports', '--app', 'svc', '--json')).stdout)).toEqual([{ host: hostPort, container: 8080 }]);
  });

  it('exits 2 instead of changing where a published host port forwards', async () => {
    const result = await slipway('ports', 'add', String(hostPort), '--app', 'svc');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`host port ${hostPort} already forwards to container port 8080`);
    expect(JSON.parse((await slipway('ports', '--app', 'svc', '--json')).stdout)).toEqual([{ host: hostPort, container: 8080 }]);
  });

  it('exits 1 for a host port that another program listens on', async () => {
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      const result = await slipway('ports', 'add', `${port}:8080`, '--app', 'svc');

      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Host port ${port} is in use by another program on this host`);
    } finally {
      listener.close();
    }
  });

  it('removes a published port', async () => {
    const result = await slipway('ports', 'remove', String(hostPort), '--app', 'svc');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('svc publishes no ports.');
  });

  it('exits 4 for a port that is not published', async () => {
    const result = await slipway('ports', 'remove', String(hostPort), '--app', 'svc');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`svc does not publish host port ${hostPort}`);
  });
});

describe('volumes of a running app', () => {
  it('exits 1 without --force, naming the running container', async () => {
    expect((await slipway('volumes', 'create', 'data:/data', '--app', 'svc')).code).toBe(0);
    const result = await slipway('volumes', 'delete', 'data', '--app', 'svc');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('App svc has 1 running container, which may have volume data mounted');
  });

  it('deletes with --force', async () => {
    const result = await slipway('volumes', 'delete', 'data', '--app', 'svc', '--force');
    expect(result.code, result.stderr).toBe(0);
    expect((await slipway('volumes', '--app', 'svc')).stdout).not.toContain('data');
  });
});

describe('logs', () => {
  /** Waits until the app's log contains `text`: the runner ships app output to the log every few hundred ms. */
  async function waitForLogLine(text: string): Promise<string> {
    let all = '';
    for (let attempt = 0; attempt < 100 && !all.includes(text); attempt += 1) {
      all = (await slipway('logs', '--app', 'svc')).stdout;
      if (!all.includes(text)) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return all;
  }

  it('shows only the lines written since a time', async () => {
    // Lines carry the time they reached the log, so the mark goes between two shipped lines.
    expect((await server.get('svc', '/before-the-mark')).status).toBe(404);
    expect(await waitForLogLine('url:/before-the-mark')).toContain('url:/before-the-mark');
    const mark = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await server.get('svc', '/after-the-mark')).status).toBe(404);
    expect(await waitForLogLine('url:/after-the-mark')).toContain('url:/after-the-mark');

    const since = await slipway('logs', '--app', 'svc', '--since', mark);
    expect(since.code, since.stderr).toBe(0);
    expect(since.stdout).toContain('url:/after-the-mark');
    expect(since.stdout).not.toContain('url:/before-the-mark');
    expect((await slipway('logs', '--app', 'svc', '--since', '10m')).stdout).toContain('url:/before-the-mark');
  });

  it('keeps printing new lines with -f', async () => {
    const follower = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'slipway.mjs'), 'logs', '-f', '--since', '1s', '--app', 'svc'], {
      env: server.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let printed = '';
    follower.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    try {
      // Requests until the follower shows one: the follower may connect after the first.
      for (let attempt = 0; attempt < 50 && !printed.includes('url:/followed'); attempt += 1) {
        await server.get('svc', '/followed');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      expect(printed).toContain('url:/followed');
      expect(follower.exitCode).toBeNull();
    } finally {
      follower.kill();
    }
  });

  it('exits 2 for a --since it cannot read', async () => {
    const result = await slipway('logs', '--app', 'svc', '--since', 'yesterday');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('give a duration such as 10m or 1h30m');
  });
});

describe('open', () => {
  it("starts $BROWSER with the app's URL", async () => {
    const browser = path.join(scratch, 'browser.sh');
    const opened = path.join(scratch, 'opened.txt');
    await writeFile(browser, `#!/bin/sh\necho "$1" > ${opened}\n`);
    await chmod(browser, 0o755);

    const result = await runSlipway(['open', '--app', 'svc', '/status'], { env: { ...server.env, BROWSER: browser } });
    expect(result.code, result.stderr).toBe(0);
    const url = `http://svc.localhost:${server.httpPort}/status`;
    expect(result.stdout).toContain(`Opening ${url}`);
    for (let attempt = 0; attempt < 50 && !(await readFile(opened, 'utf8').catch(() => '')); attempt += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readFile(opened, 'utf8')).toBe(`${url}\n`);
  });
});

describe('git-remote', () => {
  let git: GitClient;
  let repo: string;

  beforeAll(async () => {
    git = await GitClient.create();
    repo = await git.init(path.join(scratch, 'repo'));
    await git.commit(repo, { Dockerfile: VERBOSE_WEB, 'index.html': 'pushed\n' });
  });

  afterAll(async () => {
    await git?.remove();
  });

  /** Runs the CLI in the repository with the git client's home folder, so git finds the credentials where the CLI stored them. */
  function slipwayInRepo(...args: string[]) {
    return runSlipway(args, { env: { ...server.env, ...git.env }, cwd: repo });
  }

  it('adds the remote and stores the token with a credential helper', async () => {
    const result = await slipwayInRepo('git-remote', 'svc');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Added git remote slipway: http://127.0.0.1:${server.apiPort}/git/svc.git`);
    expect(await git.ok(repo, ['remote', 'get-url', 'slipway'])).toBe(`http://127.0.0.1:${server.apiPort}/git/svc.git`);
    expect(await git.ok(repo, ['config', '--get-urlmatch', 'credential.helper', `http://127.0.0.1:${server.apiPort}/git/svc.git`])).toMatch(/^store --file=/);
  });

  it('lets git push without a token in the URL', async () => {
    const push = await git.run(repo, ['push', 'slipway', 'main']);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain('-----> Released v5 of svc');
    expect(await server.get('svc', '/')).toEqual({ status: 200, body: 'pushed\n' });
  });

  it('makes commands in the repository find the app from the remote', async () => {
    const result = await slipwayInRepo('releases');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\*v5\s+active\s+git main [0-9a-f]{7}\s+/m);
  });

  it('exits 2 outside a git repository', async () => {
    const result = await runSlipway(['git-remote', 'svc'], { env: { ...server.env, ...git.env }, cwd: scratch });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not in a git repository');
  });
});
