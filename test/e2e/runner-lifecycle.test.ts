import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config.ts';
import { Runc } from '../../shared/container/runc.ts';
import { writeLayer } from '../../shared/layers/layer-writer.ts';
import { MediaType } from '../../shared/oci/media-types.ts';
import { writeBlob } from '../integration/images/support/oci-layout.ts';
import { makeBusyboxRoot } from '../support/rootfs.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';

const execFileAsync = promisify(execFile);

let server: SlipwayServer;
let scratch: string;
/** The server process started after the first one was killed; it shares the first one's data folder and ports. */
let restarted: ChildProcess | undefined;

beforeAll(async () => {
  server = await startSlipwayServer('lifecycle');
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-lifecycle-'));
  await importBusyboxImage();
});

afterAll(async () => {
  if (restarted && restarted.exitCode === null && restarted.signalCode === null) {
    const exited = new Promise((resolve) => restarted!.once('exit', resolve));
    restarted.kill('SIGTERM');
    await exited;
  }
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Imports a busybox httpd image as `lifecycle/httpd:1`, so apps build FROM it without Debian. */
async function importBusyboxImage(): Promise<void> {
  const root = path.join(scratch, 'root');
  await makeBusyboxRoot(root);
  await mkdir(path.join(root, 'www'), { recursive: true });
  const layerFile = path.join(scratch, 'layer.tar.gz');
  const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });

  const layout = path.join(scratch, 'layout');
  const layerDescriptor = await writeBlob(layout, await readFile(layerFile), MediaType.ociLayerGzip);
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait'], ExposedPorts: { '8080/tcp': {} } },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  };
  const configDescriptor = await writeBlob(layout, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: [layerDescriptor] };
  const manifestDescriptor = await writeBlob(layout, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [manifestDescriptor] }));

  const archive = path.join(scratch, 'image.tar');
  await execFileAsync('tar', ['-C', layout, '-cf', archive, '.']);
  const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/images/import?ref=lifecycle/httpd:1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}` },
    body: await readFile(archive),
  });
  expect(response.status).toBe(201);
}

/** Deploys a context whose Dockerfile puts `page` at /www/index.html of the busybox image. */
async function deployPage(app: string, page: string): Promise<void> {
  const context = await mkdtemp(path.join(scratch, 'context-'));
  await writeFile(path.join(context, 'Dockerfile'), 'FROM lifecycle/httpd:1\nCOPY index.html /www/index.html\n');
  await writeFile(path.join(context, 'index.html'), page);
  const result = await server.cli(['deploy', context, '--app', app]);
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

async function appStatus(app: string) {
  return (await server.api('GET', `/v1/apps/${app}`)).json();
}

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

describe('an app that nobody calls', () => {
  it('stops after its idle timeout', async () => {
    expect((await server.cli(['apps', 'create', 'napper'])).code).toBe(0);
    await deployPage('napper', 'one\n');
    expect((await server.api('PUT', '/v1/apps/napper/scale', { idle_timeout_s: 1 })).status).toBe(200);

    const status = await waitFor('idle stop', () => appStatus('napper'), (body) => body.machines[0]?.status === 'stopped');
    expect(status.status).toBe('stopped');
    expect(status.machines).toHaveLength(1);
  });

  it('answers the next request at its public URL', async () => {
    expect(await server.get('napper', '/')).toEqual({ status: 200, body: 'one\n' });
    expect((await appStatus('napper')).status).toBe('running');
  });
});

describe('rollback', () => {
  it('returns the app to an earlier release without a build', async () => {
    await deployPage('napper', 'two\n');
    expect((await server.get('napper', '/')).body).toBe('two\n');

    const response = await server.api('POST', '/v1/apps/napper/rollback', { release: 'v1' });
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body.release).toMatchObject({ version: 'v3', rolledBackTo: 'v1', source: 'rollback' });

    const deploy = await waitFor(
      'rollback',
      async () => (await server.api('GET', `/v1/deploys/${body.deploy.id}`)).json(),
      (row) => row.status === 'succeeded' || row.status === 'failed',
    );
    expect(deploy.status).toBe('succeeded');
    expect((await server.get('napper', '/')).body).toBe('one\n');
  });
});

describe('a runner process that is killed', () => {
  let machineId: string;

  it('leaves its containers running', async () => {
    expect((await server.api('PUT', '/v1/apps/napper/scale', { min: 1, idle_timeout_s: 300 })).status).toBe(200);
    const status = await waitFor('a running container', () => appStatus('napper'), (body) => body.machines.some((machine: { status: string }) => machine.status === 'running'));
    machineId = status.machines.find((machine: { status: string }) => machine.status === 'running').id;

    const serverPid = Number(/"pid":(\d+)/.exec(server.output())?.[1]);
    process.kill(serverPid, 'SIGKILL');
    await waitFor('the server to exit', async () => isAlive(serverPid), (alive) => !alive);

    const runc = new Runc({ stateDir: path.join(server.dataDir, 'runc') });
    expect((await runc.state(machineId))?.status).toBe('running');
  });

  it('is adopted by the next runner process', async () => {
    restarted = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'slipway.mjs'), 'server'], { env: server.env, stdio: 'ignore' });
    await waitFor('the restarted server', () => healthy(server.apiPort), (ok) => ok);

    expect(await server.get('napper', '/')).toEqual({ status: 200, body: 'one\n' });
    const status = await appStatus('napper');
    expect(status.machines.map((machine: { id: string }) => machine.id)).toEqual([machineId]);
    expect(status.machines[0].restarts).toBe(0);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
  } catch {
    return false;
  }
}

describe('teardown', () => {
  it('refuses while the server runs', async () => {
    const result = await server.cli(['teardown']);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the server is running');
  });

  it('leaves no container, namespace, bridge or firewall chain once the server stopped', async () => {
    const exited = new Promise((resolve) => restarted!.once('exit', resolve));
    restarted!.kill('SIGTERM');
    await exited;
    const bridge = server.env.SLIPWAY_BRIDGE_NAME!;
    const childrenDir = path.join(server.dataDir, 'network', 'children');
    const children = await Promise.all((await readdir(childrenDir)).map(async (file) => JSON.parse(await readFile(path.join(childrenDir, file), 'utf8')).bridgeName as string));
    expect(children.length).toBeGreaterThan(0);

    const result = await server.cli(['teardown']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Removed 1 container and the bridge ${bridge}`);
    expect(await new Runc({ stateDir: path.join(server.dataDir, 'runc') }).list()).toEqual([]);
    const { stdout: namespaces } = await execFileAsync('ip', ['netns', 'list']);
    expect(namespaces.split('\n').filter((line) => line.startsWith(bridge))).toEqual([]);
    const { stdout: links } = await execFileAsync('ip', ['-o', 'link', 'show']);
    const rules = (await execFileAsync('iptables-save')).stdout + (await execFileAsync('iptables-save', ['-t', 'nat'])).stdout;
    for (const name of [bridge, ...children]) {
      expect(links.split('\n').filter((line) => line.includes(`${name}:`) || line.includes(`${name}@`))).toEqual([]);
      expect(rules.split('\n').filter((line) => line.includes(name))).toEqual([]);
    }
  });

  it('serves the app again after the next start', async () => {
    restarted = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'slipway.mjs'), 'server'], { env: server.env, stdio: 'ignore' });
    await waitFor('the restarted server', () => healthy(server.apiPort), (ok) => ok);

    expect(await server.get('napper', '/')).toEqual({ status: 200, body: 'one\n' });
  });
});
