import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';

let server: SlipwayServer;
let scratch: string;

beforeAll(async () => {
  server = await startSlipwayServer('deploy');
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-contexts-'));
  const baseImages = await server.cli(['base-images']);
  expect(baseImages.code, baseImages.stderr).toBe(0);
});

afterAll(async () => {
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Copies an example into a scratch folder so a test can change it. */
async function copyExample(example: string, name: string): Promise<string> {
  const target = path.join(scratch, name);
  await cp(path.join(PROJECT_ROOT, 'examples', example), target, { recursive: true });
  return target;
}

async function namespacesOf(bridge: string): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).filter((name) => name.startsWith(`${bridge}-`));
}

describe('flask-hello, as the README shows it', () => {
  it('creates the app', async () => {
    const result = await server.cli(['apps', 'create', 'hello']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`http://hello.localhost:${server.httpPort}/`);
  });

  it('deploys the example and prints the URL', async () => {
    const result = await server.cli(['deploy', 'examples/flask-hello', '--app', 'hello']);
    expect(result.code, `${result.stdout}\n${result.stderr}\n${server.output()}`).toBe(0);
    expect(result.stdout).toContain('Uploading context');
    expect(result.stdout).toContain('apt-get');
    expect(result.stdout).toContain(`Released v1 of hello: http://hello.localhost:${server.httpPort}/`);
  });

  it('serves Hello World at the public URL', async () => {
    expect(await server.get('hello', '/')).toEqual({ status: 200, body: 'Hello World' });
  });

  it('serves the contact page', async () => {
    expect(await server.get('hello', '/contact')).toEqual({ status: 200, body: 'This might be a contact page in the future.' });
  });

  it('shows the app as running release v1', async () => {
    const result = await server.cli(['status', '--app', 'hello', '--json']);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'running', release: { version: 'v1' } });
  });

  it("shows the app's output in its logs", async () => {
    const result = await server.cli(['logs', '--app', 'hello']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Running on');
  });

  it('answers 404 for an app that does not exist', async () => {
    expect((await server.get('nothing-here', '/')).status).toBe(404);
  });
});

describe('a failing build', () => {
  it('fails with the line, exit code and output, and the old release keeps serving', async () => {
    const dir = await copyExample('flask-hello', 'failing');
    const dockerfile = await readFile(path.join(dir, 'Dockerfile'), 'utf8');
    const lines = dockerfile.trimEnd().split('\n');
    lines.push('RUN echo about to fail && exit 1');
    await writeFile(path.join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);

    const result = await server.cli(['deploy', dir, '--app', 'hello']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('about to fail');
    expect(result.stderr).toContain('exit code 1');

    const builds = await (await server.api('GET', '/v1/apps/hello/releases')).json();
    expect(builds.releases).toHaveLength(1);
    expect(await server.get('hello', '/')).toEqual({ status: 200, body: 'Hello World' });
  });

  it('records the failing Dockerfile line on the build', async () => {
    const dir = path.join(scratch, 'failing');
    const upload = await server.cli(['deploy', dir, '--app', 'hello', '--detach']);
    const buildId = /build ([0-9a-f-]{36})/.exec(upload.stdout)?.[1];
    expect(buildId).toBeDefined();

    let build;
    for (let attempt = 0; attempt < 600; attempt += 1) {
      build = await (await server.api('GET', `/v1/builds/${buildId}`)).json();
      if (build.status === 'failed' || build.status === 'succeeded') break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const lineCount = (await readFile(path.join(dir, 'Dockerfile'), 'utf8')).trimEnd().split('\n').length;
    expect(build).toMatchObject({ status: 'failed', error: { code: 'BUILD_STEP_FAILED', line: lineCount, exitCode: 1 } });
  });
});

describe('a redeploy under load', () => {
  it('loses no request while the new release takes over', async () => {
    const dir = await copyExample('flask-hello', 'changed');
    const appFile = path.join(dir, 'app', 'app.py');
    await writeFile(appFile, (await readFile(appFile, 'utf8')).replace('return "Hello World"', 'return "Hello Slipway"'));

    let deploying = true;
    const failures: string[] = [];
    let requests = 0;
    const load = async () => {
      while (deploying) {
        requests += 1;
        try {
          const response = await server.get('hello', '/');
          if (response.status !== 200 || !['Hello World', 'Hello Slipway'].includes(response.body)) failures.push(`${response.status} ${response.body}`);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const loops = [load(), load(), load(), load()];

    const result = await server.cli(['deploy', dir, '--app', 'hello']);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    deploying = false;
    await Promise.all(loops);

    expect(result.code, result.stderr).toBe(0);
    expect(requests).toBeGreaterThan(10);
    expect(failures).toEqual([]);
    expect(await server.get('hello', '/')).toEqual({ status: 200, body: 'Hello Slipway' });
  });
});

describe('counter with a volume', () => {
  async function visits(): Promise<number> {
    const response = await server.get('counter', '/');
    expect(response.status).toBe(200);
    return Number(/Visits: (\d+)/.exec(response.body)?.[1]);
  }

  it('counts visits', async () => {
    expect((await server.cli(['apps', 'create', 'counter'])).code).toBe(0);
    const volume = await server.api('POST', '/v1/apps/counter/volumes', { name: 'data', path: '/data' });
    expect(volume.status).toBe(201);

    const result = await server.cli(['deploy', 'examples/counter', '--app', 'counter']);
    expect(result.code, result.stderr).toBe(0);
    expect(await visits()).toBe(1);
    expect(await visits()).toBe(2);
  });

  it('keeps counting across a redeploy', async () => {
    const result = await server.cli(['deploy', 'examples/counter', '--app', 'counter']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Released v2');
    expect(await visits()).toBe(3);
  });

  it('keeps counting after its container crashes and restarts', async () => {
    const status = await (await server.api('GET', '/v1/apps/counter')).json();
    const machineId = status.machines[0].id as string;
    const pidFile = await readFile(`/sys/fs/cgroup/pids/slipway/${machineId}/cgroup.procs`, 'utf8');
    for (const pid of pidFile.trim().split('\n')) process.kill(Number(pid), 'SIGKILL');

    let count = Number.NaN;
    for (let attempt = 0; attempt < 120 && Number.isNaN(count); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const response = await server.get('counter', '/').catch(() => null);
      if (response?.status === 200) count = Number(/Visits: (\d+)/.exec(response.body)?.[1]);
    }
    expect(count).toBe(4);
  });
});

describe('deleting an app', () => {
  it('stops its containers and leaves no network namespace of them', async () => {
    const bridge = server.env.SLIPWAY_BRIDGE_NAME!;
    const status = await (await server.api('GET', '/v1/apps/counter')).json();
    const machineIds = (status.machines as { id: string }[]).map((machine) => machine.id);
    expect(machineIds.length).toBeGreaterThan(0);
    for (const id of machineIds) expect(await namespacesOf(bridge)).toContain(`${bridge}-${id}`);

    const result = await server.cli(['apps', 'delete', 'counter']);
    expect(result.code, result.stderr).toBe(0);
    expect((await server.get('counter', '/')).status).toBe(404);
    const remaining = await namespacesOf(bridge);
    for (const id of machineIds) expect(remaining).not.toContain(`${bridge}-${id}`);
  });
});
