import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRouteInterfaces } from '../../shared/network/bridge-network.ts';
import { ipv4InCidr } from '../../shared/network/ipv4.ts';
import { hostVethNameFor } from '../../shared/network/network-sandbox.ts';
import { freePort } from '../support/free-port.ts';
import { ingressGet, startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';
import { importAppImage, releaseImage } from './support/app-images.ts';
import { startOpenPostgres, startOpenRedis, type HostService } from './support/host-services.ts';

const execFileAsync = promisify(execFile);

/** A busybox web server whose /cgi-bin/probe?HOST+PORT tries a TCP connection from inside the container. */
const WEB_IMAGE = 'isolation-test/web:1';
/** A TCP service on port 5000 that greets each client, for nc. */
const GREETER_IMAGE = 'isolation-test/greeter:1';
const BOMB_IMAGE = 'isolation-test/bomb:1';
const HOG_IMAGE = 'isolation-test/hog:1';
const DEV_LINK_IMAGE = 'isolation-test/dev-link:1';

const PROBE_SCRIPT = [
  '#!/bin/sh',
  // busybox httpd passes CGI headers on as written, and Node's HTTP parser wants CRLF.
  "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
  'target=$(echo "$QUERY_STRING" | tr "+" " ")',
  // Exit 1 means the connection failed; a connection that stays open ends at the timeout (143).
  'timeout 4 nc -w 1 $target < /dev/null 2>&1',
  'echo "exit $?"',
  '',
].join('\n');

/** Writes /data/note (a volume in the tests that declare one) and prints it with its owner. */
const WRITE_SCRIPT = ['#!/bin/sh', "printf 'Content-Type: text/plain\\r\\n\\r\\n'", 'echo written > /data/note && stat -c "%u %n" /data/note', ''].join('\n');

let server: SlipwayServer;
let aliceToken: string;
let bobToken: string;
const hostServices: HostService[] = [];

function call(token: string, method: string, url: string, json?: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.apiPort}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
}

async function createApp(token: string, name: string): Promise<void> {
  const response = await call(token, 'POST', '/v1/apps', { name });
  expect(response.status, await response.clone().text()).toBe(201);
}

/** Creates an app, keeps one container running (no idle stop) and releases an image on it. */
async function runApp(token: string, name: string, image: string, settings: { limits?: object; isolation?: object; created?: boolean } = {}): Promise<void> {
  if (!settings.created) await createApp(token, name);
  expect((await call(token, 'PUT', `/v1/apps/${name}/scale`, { min: 1 })).status).toBe(200);
  if (settings.limits) expect((await call(token, 'PUT', `/v1/apps/${name}/limits`, settings.limits)).status).toBe(200);
  if (settings.isolation) expect((await call(token, 'PUT', `/v1/apps/${name}/isolation`, settings.isolation)).status).toBe(200);
  const outcome = await releaseImage(server, token, name, image);
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'succeeded' });
}

async function machineIds(app: string): Promise<string[]> {
  const status = await (await call(server.token, 'GET', `/v1/apps/${app}`)).json();
  return (status.machines as { id: string }[]).map((machine) => machine.id);
}

/** Asks app `from` to open a TCP connection to host:port; returns what its probe printed. */
async function probe(from: string, host: string, port: number): Promise<string> {
  const response = await ingressGet(server.httpPort, `${from}.localhost`, `/cgi-bin/probe?${host}+${port}`);
  expect(response.status, response.body).toBe(200);
  return response.body;
}

function readGreeting(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 5000 });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => resolve(text));
    socket.on('timeout', () => socket.destroy(new Error('timed out')));
    socket.on('error', (error) => resolve(`error: ${error.message}`));
  });
}

async function waitUntil<T>(description: string, read: () => Promise<T>, done: (value: T) => boolean, limitMs = 60_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${description}; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

beforeAll(async () => {
  server = await startSlipwayServer('isolation', { SLIPWAY_BIND_ADDRESS: '0.0.0.0' });
  for (const owner of ['alice', 'bob']) {
    const response = await call(server.token, 'POST', '/v1/tokens', { owner });
    expect(response.status).toBe(201);
    if (owner === 'alice') aliceToken = (await response.json()).token;
    else bobToken = (await response.json()).token;
  }

  const web = { 'www/index.html': 'web\n', 'www/cgi-bin/probe': PROBE_SCRIPT, 'www/cgi-bin/write': WRITE_SCRIPT };
  await importAppImage(server, WEB_IMAGE, {
    files: web,
    executables: ['www/cgi-bin/probe', 'www/cgi-bin/write'],
    config: { Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} } },
  });
  await importAppImage(server, GREETER_IMAGE, {
    files: { 'bin/greet': '#!/bin/sh\necho hello from the greeter\n' },
    executables: ['bin/greet'],
    config: { Cmd: ['nc', '-ll', '-p', '5000', '-e', '/bin/greet'], ExposedPorts: { '5000/tcp': {} } },
  });
  // Serves first, so that the release becomes healthy, then forks without end.
  await importAppImage(server, BOMB_IMAGE, {
    files: { 'www/index.html': 'bomb\n' },
    config: { Cmd: ['sh', '-c', 'httpd -p 8080 -h /www; sleep 5; bomb() { bomb | bomb & }; bomb; sleep 3600'], ExposedPorts: { '8080/tcp': {} } },
  });
  // Serves first, then its main process fills memory: tail keeps the whole input line.
  await importAppImage(server, HOG_IMAGE, {
    files: { 'www/index.html': 'hog\n' },
    config: { Cmd: ['sh', '-c', 'httpd -p 8080 -h /www; sleep 5; head -c 268435456 /dev/zero | tail -n 1 > /dev/null'], ExposedPorts: { '8080/tcp': {} } },
  });
  await importAppImage(server, DEV_LINK_IMAGE, {
    files: web,
    symlinks: { dev: '/tmp' },
    config: { Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} } },
  });

  await runApp(aliceToken, 'db', GREETER_IMAGE);
  await runApp(aliceToken, 'web', WEB_IMAGE);
  await runApp(bobToken, 'snoop', WEB_IMAGE);
});

afterAll(async () => {
  await server?.stop();
  for (const service of hostServices) await service.stop();
});

describe('private networks per owner', () => {
  it('lets an app reach another app of its owner by <app>.internal', async () => {
    expect(await probe('web', 'db.internal', 5000)).toBe('hello from the greeter\nexit 0\n');
  });

  it("keeps another owner's app from resolving the name", async () => {
    const output = await probe('snoop', 'db.internal', 5000);

    expect(output).not.toContain('hello');
    expect(output).toMatch(/exit 1\n$/);
  });

  it("keeps another owner's app from reaching the address", async () => {
    // The third line of a machine's hosts file is its own address and name.
    const dbMachine = (await machineIds('db'))[0]!;
    const address = (await readFile(path.join(server.dataDir, 'machines', dbMachine, 'hosts'), 'utf8')).split('\n')[2]!.split('\t')[0]!;
    expect(await probe('web', address, 5000)).toContain('hello');

    const output = await probe('snoop', address, 5000);

    expect(output).not.toContain('hello');
    expect(output).toMatch(/exit 1\n$/);
  });
});

describe('the link-local block', () => {
  it('is dropped on every bridge', async () => {
    const childrenDir = path.join(server.dataDir, 'network', 'children');
    const children = await Promise.all((await readdir(childrenDir)).map(async (file) => JSON.parse(await readFile(path.join(childrenDir, file), 'utf8')).bridgeName as string));
    const rules = (await execFileAsync('iptables', ['-S'])).stdout.split('\n');

    expect(children.length).toBe(2);
    for (const bridge of [server.env.SLIPWAY_BRIDGE_NAME!, ...children]) {
      expect(rules).toContain(`-A SLIPWAY-FWD-${bridge} -d 169.254.0.0/16 -i ${bridge} -j DROP`);
    }
  });
});

describe("the host's own services", () => {
  const containerRange = () => server.env.SLIPWAY_BRIDGE_SUBNET!;

  /** Host addresses that containers could aim at: this server's bridge gateways and the uplinks' addresses. */
  async function hostAddresses(): Promise<string[]> {
    const interfaces = networkInterfaces();
    const ipv4 = (entries: typeof interfaces[string]) => (entries ?? []).filter((entry) => entry.family === 'IPv4' && !entry.internal).map((entry) => entry.address);
    const gateways = ipv4(Object.values(interfaces).flat() as typeof interfaces[string]).filter((address) => ipv4InCidr(address, containerRange()));
    const uplinks = (await defaultRouteInterfaces()).flatMap((name) => ipv4(interfaces[name]));
    return [...gateways, ...uplinks];
  }

  beforeAll(async () => {
    hostServices.push(await startOpenRedis(), await startOpenPostgres());
  });

  it('reach the host itself on every address, so the checks below can fail', async () => {
    const ports = [server.apiPort, server.httpPort, ...hostServices.map((service) => service.port)];
    for (const address of await hostAddresses()) {
      for (const port of ports) {
        const reached = await new Promise<boolean>((resolve) => {
          const socket = net.connect({ host: address, port, timeout: 3000 }, () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
          socket.on('timeout', () => resolve(false));
        });
        expect({ address, port, reached }).toEqual({ address, port, reached: true });
      }
    }
  });

  it.each([
    ['the API', () => server.apiPort],
    ['the ingress', () => server.httpPort],
    ['Redis', () => hostServices[0]!.port],
    ['PostgreSQL', () => hostServices[1]!.port],
  ])('are unreachable from a container: %s', async (_name, port) => {
    const addresses = await hostAddresses();
    expect(addresses.length).toBeGreaterThan(1);

    const outputs = await Promise.all(addresses.map((address) => probe('web', address, port())));

    // nc exits 1 when the connection fails, after an optional reason such as "nc: timed out".
    const outcomes = outputs.map((output, index) => ({ address: addresses[index], lastLine: output.trimEnd().split('\n').at(-1) }));
    expect(outcomes).toEqual(addresses.map((address) => ({ address, lastLine: 'exit 1' })));
  });
});

describe('a published port', () => {
  let hostPort: number;

  beforeAll(async () => {
    hostPort = await freePort();
  });

  it('reaches a non-HTTP service with nc at 127.0.0.1', async () => {
    const response = await call(aliceToken, 'PUT', '/v1/apps/db/ports', [{ host: hostPort, container: 5000 }]);
    expect(response.status).toBe(200);

    const greeting = await waitUntil(
      'the published port',
      async () => (await execFileAsync('sh', ['-c', `busybox nc -w 3 127.0.0.1 ${hostPort} < /dev/null`]).catch(() => ({ stdout: '' }))).stdout,
      (text) => text !== '',
      30_000,
    );

    expect(greeting).toBe('hello from the greeter\n');
  });

  it('stops forwarding once the port is removed', async () => {
    expect((await call(aliceToken, 'PUT', '/v1/apps/db/ports', [])).status).toBe(200);

    const outcome = await waitUntil('the port to close', () => readGreeting('127.0.0.1', hostPort), (text) => text.startsWith('error'), 30_000);

    expect(outcome).toMatch(/ECONNREFUSED/);
  });
});

describe('limits', () => {
  it('stops a fork bomb at the pids limit while a neighbour keeps answering', async () => {
    await runApp(aliceToken, 'bomb', BOMB_IMAGE, { limits: { pids: 64 } });
    const [machineId] = await machineIds('bomb');
    const pidsDir = `/sys/fs/cgroup/pids/slipway/${machineId}`;

    await waitUntil('forks to be refused', async () => Number(/^max (\d+)/m.exec(await readFile(`${pidsDir}/pids.events`, 'utf8'))?.[1] ?? 0), (refused) => refused > 0);
    const answers: string[] = [];
    let peak = 0;
    for (let request = 0; request < 20; request += 1) {
      peak = Math.max(peak, Number((await readFile(`${pidsDir}/pids.current`, 'utf8')).trim()));
      answers.push((await ingressGet(server.httpPort, 'web.localhost', '/')).body);
    }

    expect((await readFile(`${pidsDir}/pids.max`, 'utf8')).trim()).toBe('64');
    expect(peak).toBeLessThanOrEqual(64);
    expect(answers).toEqual(Array(20).fill('web\n'));
    expect((await call(aliceToken, 'DELETE', '/v1/apps/bomb')).status).toBe(204);
  });

  it('reports a container that the OOM killer ended in the app status', async () => {
    await runApp(aliceToken, 'hog', HOG_IMAGE, { limits: { memory_bytes: 32 * 1024 * 1024 } });

    const status = await waitUntil(
      'the OOM kill in the status',
      async () => (await call(aliceToken, 'GET', '/v1/apps/hog')).json(),
      (app) => app.machines.some((machine: { lastExit?: { reason: string } }) => machine.lastExit?.reason === 'out-of-memory'),
    );

    const machine = status.machines.find((candidate: { lastExit?: { reason: string } }) => candidate.lastExit?.reason === 'out-of-memory');
    expect(machine.lastExit).toMatchObject({ exitCode: 137, reason: 'out-of-memory', memoryLimitBytes: 32 * 1024 * 1024 });
    expect((await call(aliceToken, 'DELETE', '/v1/apps/hog')).status).toBe(204);
  });
});

describe('images the runtime refuses', () => {
  it('rejects an image whose /dev is a symbolic link', async () => {
    await createApp(aliceToken, 'dev-link');

    const outcome = await releaseImage(server, aliceToken, 'dev-link', DEV_LINK_IMAGE);

    expect(outcome.status).toBe('failed');
    expect(outcome.error?.code).toBe('CONTAINER_ROOT_UNSAFE');
    expect(outcome.error?.message).toMatch(/\/dev is a symbolic link to "\/tmp"/);
  });

  it('rejects WORKDIR /proc/self/fd/7 with the reason', async () => {
    const context = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-workdir-'));
    try {
      await writeFile(path.join(context, 'Dockerfile'), `FROM ${WEB_IMAGE}\nWORKDIR /proc/self/fd/7\n`);
      expect((await server.cli(['apps', 'create', 'proc-workdir'])).code).toBe(0);

      const result = await server.cli(['deploy', context, '--app', 'proc-workdir']);

      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/working directory "\/proc\/self\/fd\/7" is inside \/proc/);
    } finally {
      await rm(context, { recursive: true, force: true });
    }
  });
});

describe('a user namespace', () => {
  it('runs root of the container as an unprivileged host user', async () => {
    await createApp(aliceToken, 'rootless');
    expect((await call(aliceToken, 'POST', '/v1/apps/rootless/volumes', { name: 'data', path: '/data' })).status).toBe(201);
    await runApp(aliceToken, 'rootless', WEB_IMAGE, { isolation: { user_namespace: true }, created: true });
    const [machineId] = await machineIds('rootless');
    const pid = (await readFile(`/sys/fs/cgroup/pids/slipway/${machineId}/cgroup.procs`, 'utf8')).trim().split('\n')[0];

    const status = await readFile(`/proc/${pid}/status`, 'utf8');

    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1000000');
    expect((await ingressGet(server.httpPort, 'rootless.localhost', '/')).body).toBe('web\n');
  });

  it('lets root write a volume unprivileged', async () => {
    const response = await ingressGet(server.httpPort, 'rootless.localhost', '/cgi-bin/write');
    const appFolders = await readdir(path.join(server.dataDir, 'volumes'));
    const owners = await Promise.all(appFolders.map((folder) => stat(path.join(server.dataDir, 'volumes', folder, 'data', 'note')).then((note) => note.uid, () => null)));

    expect(response.body).toBe('0 /data/note\n');
    expect(owners.filter((uid) => uid !== null)).toEqual([1000000]);
  });
});

describe('deleting an app', () => {
  const bridge = () => server.env.SLIPWAY_BRIDGE_NAME!;

  /** Counts the server's resources on the host by kind, restricted to its bridges, data folder and the given machines. */
  async function hostResources(ids: string[]) {
    const childrenDir = path.join(server.dataDir, 'network', 'children');
    const children = await Promise.all((await readdir(childrenDir).catch(() => [] as string[])).map(async (file) => JSON.parse(await readFile(path.join(childrenDir, file), 'utf8')).bridgeName as string));
    const bridges = [bridge(), ...children];
    const rules = `${(await execFileAsync('iptables', ['-S'])).stdout}${(await execFileAsync('iptables', ['-t', 'nat', '-S'])).stdout}`.split('\n');
    const veths = await Promise.all(bridges.map(async (name) => (await execFileAsync('ip', ['-o', 'link', 'show', 'master', name])).stdout.split('\n').filter(Boolean)));
    const cgroups: string[] = [];
    for (const controller of await readdir('/sys/fs/cgroup')) {
      for (const id of ids) {
        if (await readdir(`/sys/fs/cgroup/${controller}/slipway/${id}`).then(() => true, () => false)) cgroups.push(`${controller}/${id}`);
      }
    }
    return {
      mounts: (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.includes(server.dataDir)).length,
      netns: (await readdir('/run/netns')).filter((name) => name.startsWith(`${bridge()}-`)).length,
      veths: veths.flat().length,
      rules: rules.filter((rule) => bridges.some((name) => rule.includes(name))).length,
      cgroups: cgroups.length,
      containers: JSON.parse((await execFileAsync('runc', ['--root', path.join(server.dataDir, 'runc'), 'list', '--format', 'json'])).stdout || '[]').length as number,
    };
  }

  it('leaves no mount, namespace, veth, rule, cgroup or container of it', async () => {
    const hostPort = await freePort();
    const before = await hostResources([]);

    await createApp(aliceToken, 'leaky');
    expect((await call(aliceToken, 'POST', '/v1/apps/leaky/volumes', { name: 'data', path: '/data' })).status).toBe(201);
    expect((await call(aliceToken, 'PUT', '/v1/apps/leaky/ports', [{ host: hostPort, container: 8080 }])).status).toBe(200);
    await runAppRelease('leaky');
    const ids = await machineIds('leaky');
    const during = await waitUntil('the port rule', () => hostResources(ids), (counts) => counts.rules > before.rules);
    expect(await readFile(path.join(server.dataDir, 'machines', ids[0]!, 'hosts'), 'utf8')).toContain('leaky.internal');
    expect(hostVethNameFor(bridge(), ids[0]!)).toMatch(/^vsw/);

    expect((await call(aliceToken, 'DELETE', '/v1/apps/leaky')).status).toBe(204);
    const after = await hostResources(ids);

    expect(during.mounts).toBeGreaterThan(before.mounts);
    expect(during.netns).toBeGreaterThan(before.netns);
    expect(during.veths).toBeGreaterThan(before.veths);
    expect(during.cgroups).toBeGreaterThan(0);
    expect(during.containers).toBeGreaterThan(before.containers);
    expect(after).toEqual({ ...before, cgroups: 0 });
  });

  /** Releases the web image on an app whose settings the test made already. */
  async function runAppRelease(name: string): Promise<void> {
    expect((await call(aliceToken, 'PUT', `/v1/apps/${name}/scale`, { min: 1 })).status).toBe(200);
    expect(await releaseImage(server, aliceToken, name, WEB_IMAGE)).toMatchObject({ status: 'succeeded' });
  }
});
