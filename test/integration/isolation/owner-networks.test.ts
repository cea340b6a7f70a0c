import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootLogger } from '../../../shared/logger.ts';
import { BridgeNetwork } from '../../../shared/network/bridge-network.ts';
import { firewallChains } from '../../../shared/network/firewall.ts';
import { ipv4InCidr } from '../../../shared/network/ipv4.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';
import { applyPortForwards, publishedPortsChain, removePortForwards } from '../../../shared/network/published-ports.ts';
import { planSubnets } from '../../../shared/network/subnet-plan.ts';
import { InternalNames } from '../../../runner/network/internal-names.ts';
import { OwnerNetworks } from '../../../runner/network/owner-networks.ts';
import { freePort } from '../../support/free-port.ts';
import { createRuntimeFixture, runCollecting, waitFor, type RuntimeFixture } from '../runtime/runtime-fixture.ts';

const execFileAsync = promisify(execFile);

/** Lists every iptables rule of the filter and nat tables, in iptables -S form. */
async function allRules(): Promise<string[]> {
  const filter = (await execFileAsync('iptables', ['-S'])).stdout;
  const nat = (await execFileAsync('iptables', ['-t', 'nat', '-S'])).stdout;
  return `${filter}${nat}`.split('\n').filter(Boolean);
}

async function ownNetns(prefix: string): Promise<string[]> {
  return (await execFileAsync('ip', ['netns', 'list'])).stdout.split('\n').filter((line) => line.startsWith(`${prefix}-`));
}

/** Reads a TCP server's greeting from the host, or the error. */
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

describe('owner networks', () => {
  const mainBridge = `swn${randomBytes(4).toString('hex')}`;
  const range = `10.246.${randomInt(0, 256)}.0/24`;
  const plan = planSubnets(range);
  let stateDir: string;
  let main: BridgeNetwork;
  let owners: OwnerNetworks;
  let names: InternalNames;
  let fixture: RuntimeFixture;
  let hostsDir: string;
  const sandboxes = new Map<string, NetworkSandbox>();
  let databaseServer: Promise<number>;
  let rulesBefore: string[];

  /** Runs a one-off command in a new container on a sandbox, with the sandbox's hosts file. */
  async function runIn(sandboxId: string, command: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const sandbox = sandboxes.get(sandboxId)!;
    return runCollecting(fixture, fixture.newId(sandboxId), ['sh', '-c', command], {
      networkNamespacePath: sandbox.netnsPath,
      mounts: [{ source: path.join(hostsDir, sandboxId), destination: '/etc/hosts', readOnly: true }],
    });
  }

  async function join(owner: string, sandboxId: string, appName: string, serving: boolean): Promise<NetworkSandbox> {
    const sandbox = await owners.createSandbox(owner, sandboxId);
    sandboxes.set(sandboxId, sandbox);
    await names.upsert({ machineId: sandboxId, appName, owner, ipAddress: sandbox.ipAddress, hostsPath: path.join(hostsDir, sandboxId), serving });
    return sandbox;
  }

  beforeAll(async () => {
    rulesBefore = await allRules();
    stateDir = await mkdtemp(path.join(tmpdir(), 'slipway-owner-networks-'));
    hostsDir = path.join(stateDir, 'hosts');
    await mkdir(hostsDir);
    main = new BridgeNetwork({ bridgeName: mainBridge, subnet: plan.buildSubnet, stateDir });
    await main.setup();
    owners = new OwnerNetworks(main, range);
    names = new InternalNames(rootLogger);
    fixture = await createRuntimeFixture();
    await chmod(fixture.dir, 0o755);
    await writeFile(path.join(fixture.rootfs, 'bin', 'greet'), '#!/bin/sh\necho hello from the database\n', { mode: 0o755 });

    // Owner alice: a "database" that greets every TCP client on port 5000, and a client app.
    const database = await join('alice', 'alice-db', 'db', true);
    await join('alice', 'alice-web', 'web', true);
    // Owner bob: one app, on a network of its own. A build step sandbox sits on the main bridge.
    await join('bob', 'bob-web', 'web', true);
    sandboxes.set('build', await main.createSandbox('build'));

    const id = fixture.newId('alice-db');
    const bundle = await fixture.bundle(id, ['nc', '-ll', '-p', '5000', '-e', '/bin/greet'], {
      networkNamespacePath: database.netnsPath,
    });
    databaseServer = fixture.runc.run(id, bundle.dir, { timeoutMs: 300_000 }).catch(() => -1);
    await waitFor('the database to listen', async () => (await readGreeting(database.ipAddress, 5000)).startsWith('hello'));
  });

  afterAll(async () => {
    try {
      await fixture?.cleanup();
      await databaseServer;
      await main?.teardown();
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('puts each owner on a bridge and address block of its own', async () => {
    const alice = await owners.networkFor('alice');
    const bob = await owners.networkFor('bob');

    expect(alice.bridgeName).not.toBe(bob.bridgeName);
    expect(ipv4InCidr(sandboxes.get('alice-db')!.ipAddress, alice.subnet.cidr)).toBe(true);
    expect(ipv4InCidr(sandboxes.get('bob-web')!.ipAddress, bob.subnet.cidr)).toBe(true);
    expect(alice.subnet.cidr).not.toBe(plan.buildSubnet);
    expect(ipv4InCidr(sandboxes.get('alice-db')!.ipAddress, range)).toBe(true);
  });

  it('names namespaces after the main bridge', async () => {
    expect(sandboxes.get('alice-db')!.netnsName).toBe(`${mainBridge}-alice-db`);
    expect((await main.listSandboxes()).map((listing) => listing.sandboxId).sort()).toEqual(['alice-db', 'alice-web', 'bob-web', 'build']);
  });

  it('lets an app reach another app of its owner by <app>.internal', async () => {
    const result = await runIn('alice-web', 'nc -w 5 db.internal 5000 < /dev/null');

    expect(result.stdout).toBe('hello from the database\n');
  });

  it('writes only its own owner\'s names into a hosts file', () => {
    const bobHosts = names.hostsFor('bob-web')!;

    expect(names.hostsFor('alice-web')).toContain(`${sandboxes.get('alice-db')!.ipAddress}\tdb.internal`);
    expect(bobHosts).toContain('web.internal');
    expect(bobHosts).not.toContain('db.internal');
  });

  it("keeps another owner's container from reaching the app's address", async () => {
    const result = await runIn('bob-web', `nc -w 3 ${sandboxes.get('alice-db')!.ipAddress} 5000 < /dev/null; echo "exit $?"`);

    expect(result.stdout).not.toContain('hello');
    expect(result.stdout).toMatch(/exit [1-9]/);
  });

  it("does not resolve another owner's app name", async () => {
    const result = await runIn('bob-web', 'nc -w 3 db.internal 5000 < /dev/null; echo "exit $?"');

    expect(result.stdout).not.toContain('hello');
    expect(result.stdout).toMatch(/exit [1-9]/);
  });

  it('keeps a build step on the main bridge from reaching an app', async () => {
    const build = sandboxes.get('build')!;
    const result = await runCollecting(fixture, fixture.newId('build'), ['sh', '-c', `nc -w 3 ${sandboxes.get('alice-db')!.ipAddress} 5000 < /dev/null; echo "exit $?"`], {
      networkNamespacePath: build.netnsPath,
    });

    expect(result.stdout).not.toContain('hello');
  });

  it("keeps containers away from the host's services on every host address", async () => {
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .filter((entry) => entry && entry.family === 'IPv4' && !entry.internal)
      .map((entry) => entry!.address);
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.end('host service\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      const probes = hostAddresses.map((address) => `nc -w 2 ${address} ${port} < /dev/null`).join('; ');
      const result = await runIn('alice-web', probes);

      expect(hostAddresses).toContain((await owners.networkFor('alice')).subnet.gateway);
      expect(result.stdout).toBe('');
      expect(connections).toBe(0);
      expect(await readGreeting('127.0.0.1', port)).toBe('host service\n');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('drops traffic to link-local addresses on every owner bridge', async () => {
    const rules = await allRules();

    for (const owner of ['alice', 'bob']) {
      const bridge = (await owners.networkFor(owner)).bridgeName;
      expect(rules).toContain(`-A ${firewallChains(bridge).forward} -d 169.254.0.0/16 -i ${bridge} -j DROP`);
    }
  });

  describe('a published port', () => {
    let hostPort: number;

    beforeAll(async () => {
      hostPort = await freePort();
      await applyPortForwards(mainBridge, range, [{ hostPort, targetAddress: sandboxes.get('alice-db')!.ipAddress, targetPort: 5000 }]);
    });

    it('reaches a non-HTTP service at 127.0.0.1 with nc', async () => {
      const { stdout } = await execFileAsync('sh', ['-c', `busybox nc -w 5 127.0.0.1 ${hostPort} < /dev/null`]);

      expect(stdout).toBe('hello from the database\n');
    });

    it("reaches it at the host's own address", async () => {
      const address = Object.values(networkInterfaces())
        .flat()
        .find((entry) => entry && entry.family === 'IPv4' && !entry.internal && !ipv4InCidr(entry.address, range))!.address;

      expect(await readGreeting(address, hostPort)).toBe('hello from the database\n');
    });

    it('is not a way in for containers', async () => {
      const gateway = (await owners.networkFor('bob')).subnet.gateway;
      const result = await runIn('bob-web', `nc -w 3 ${gateway} ${hostPort} < /dev/null; echo "exit $?"`);

      expect(result.stdout).not.toContain('hello');
    });

    it('goes away with its rules', async () => {
      await applyPortForwards(mainBridge, range, []);

      expect(await readGreeting('127.0.0.1', hostPort)).toMatch(/^error: .*ECONNREFUSED/);
      expect((await allRules()).filter((rule) => rule.includes(`--dport ${hostPort}`))).toEqual([]);
    });
  });

  it('leaves no bridge, namespace, veth or rule after teardown', async () => {
    const bridges = [(await owners.networkFor('alice')).bridgeName, (await owners.networkFor('bob')).bridgeName, mainBridge];
    const veths = [...sandboxes.values()].map((sandbox) => sandbox.hostVeth);
    await fixture.cleanup();
    await databaseServer;
    await removePortForwards(mainBridge);

    await main.teardown();

    for (const bridge of bridges) {
      expect(await execFileAsync('ip', ['link', 'show', 'dev', bridge]).then(() => 'present', () => 'gone')).toBe('gone');
    }
    for (const veth of veths) {
      expect(await execFileAsync('ip', ['link', 'show', 'dev', veth]).then(() => 'present', () => 'gone')).toBe('gone');
    }
    expect(await ownNetns(mainBridge)).toEqual([]);
    expect((await allRules()).filter((rule) => rule.includes(publishedPortsChain(mainBridge)))).toEqual([]);
    // Other processes may change other rules meanwhile, so only rules that name these bridges count.
    const ours = (rules: string[]) => rules.filter((rule) => bridges.some((bridge) => rule.includes(bridge)));
    expect(ours(await allRules())).toEqual(ours(rulesBefore));
  });
});
