import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeNetwork } from '../../../shared/network/bridge-network.ts';
import { firewallChains } from '../../../shared/network/firewall.ts';
import { ipv4InCidr } from '../../../shared/network/ipv4.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';
import { containerResolvConf } from '../../../shared/network/resolv-conf.ts';
import { createRuntimeFixture, runCollecting, waitFor, type RuntimeFixture } from './runtime-fixture.ts';

const execFileAsync = promisify(execFile);

async function succeeds(command: string, args: string[]): Promise<boolean> {
  return execFileAsync(command, args).then(
    () => true,
    () => false,
  );
}

/** Picks a /24 under 10.244.0.0/16 that no route of this host uses, so the test bridge disturbs nothing. */
async function pickFreeSubnet(): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['-4', 'route', 'show']);
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const subnet = `10.244.${randomInt(0, 256)}.0/24`;
    if (!stdout.includes(subnet.split('/')[0]!.split('.').slice(0, 3).join('.'))) return subnet;
  }
  throw new Error('No free 10.244.x.0/24 subnet found for the test bridge');
}

/** Lists every iptables rule (filter and nat) that mentions the bridge, in iptables -S form. */
async function bridgeRules(bridgeName: string): Promise<string[]> {
  const filter = (await execFileAsync('iptables', ['-S'])).stdout;
  const nat = (await execFileAsync('iptables', ['-t', 'nat', '-S'])).stdout;
  return `${filter}${nat}`.split('\n').filter((line) => line.includes(bridgeName));
}

describe('BridgeNetwork', () => {
  const bridgeName = `swt${randomBytes(4).toString('hex')}`;
  let subnet: string;
  let stateDir: string;
  let network: BridgeNetwork;
  let fixture: RuntimeFixture;
  let serverSandbox: NetworkSandbox;
  let httpServer: ChildProcess;

  beforeAll(async () => {
    subnet = await pickFreeSubnet();
    stateDir = await mkdtemp(path.join(tmpdir(), 'slipway-network-'));
    network = new BridgeNetwork({ bridgeName, subnet, stateDir });
    await network.setup();
    fixture = await createRuntimeFixture();

    // A web server in a sandbox of its own, for the tests that connect between sandboxes.
    serverSandbox = await network.createSandbox('server');
    const webRoot = path.join(stateDir, 'www');
    await mkdir(webRoot);
    await writeFile(path.join(webRoot, 'index.html'), 'hello from the server sandbox\n');
    httpServer = spawn('ip', ['netns', 'exec', serverSandbox.netnsName, 'busybox', 'httpd', '-f', '-p', '8080', '-h', webRoot], {
      stdio: 'ignore',
    });
    await waitFor('the web server', () =>
      succeeds('ip', ['netns', 'exec', serverSandbox.netnsName, 'busybox', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/']),
    );
  });

  afterAll(async () => {
    httpServer?.kill();
    try {
      await fixture?.cleanup();
      await network?.teardown();
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('gives a sandbox an address, a default route, loopback and the uplink MTU', async () => {
    const sandbox = await network.createSandbox('addressed');
    try {
      const addresses = JSON.parse((await execFileAsync('ip', ['-n', sandbox.netnsName, '-j', '-4', 'addr', 'show'])).stdout) as Array<{
        ifname: string;
        operstate: string;
        mtu: number;
        addr_info: Array<{ local: string }>;
      }>;
      const routes = (await execFileAsync('ip', ['-n', sandbox.netnsName, 'route', 'show', 'default'])).stdout;
      const uplinkDevice = /\bdev\s+(\S+)/.exec((await execFileAsync('ip', ['-4', 'route', 'show', 'default'])).stdout)?.[1];
      const uplinkMtu = Number((await execFileAsync('cat', [`/sys/class/net/${uplinkDevice}/mtu`])).stdout.trim());

      expect(ipv4InCidr(sandbox.ipAddress, subnet)).toBe(true);
      expect(sandbox.netnsPath).toBe(`/run/netns/${sandbox.netnsName}`);
      expect(addresses.find((entry) => entry.ifname === 'eth0')?.addr_info[0]?.local).toBe(sandbox.ipAddress);
      expect(addresses.find((entry) => entry.ifname === 'eth0')?.mtu).toBe(uplinkMtu);
      expect(addresses.find((entry) => entry.ifname === 'lo')?.addr_info[0]?.local).toBe('127.0.0.1');
      expect(routes).toContain(`default via ${sandbox.gateway} dev eth0`);
      expect(sandbox.hostVeth.length).toBeLessThanOrEqual(15);
    } finally {
      await sandbox.remove();
    }
  });

  it('lets a container reach a server in another sandbox', async () => {
    const sandbox = await network.createSandbox('client');
    try {
      const result = await runCollecting(
        fixture,
        fixture.newId('client'),
        // busybox 1.35 wget crashes with -T, so the timeout applet bounds the request instead.
        ['timeout', '10', 'wget', '-q', '-O', '-', `http://${serverSandbox.ipAddress}:8080/`],
        { networkNamespacePath: sandbox.netnsPath },
      );

      expect(result.stdout).toBe('hello from the server sandbox\n');
    } finally {
      await sandbox.remove();
    }
  });

  it('lets the host connect into a sandbox', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const request = http.get(`http://${serverSandbox.ipAddress}:8080/`, { timeout: 10_000 }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
      });
      request.on('timeout', () => request.destroy(new Error('request timed out')));
      request.on('error', reject);
    });

    expect(body).toBe('hello from the server sandbox\n');
  });

  it('blocks connections from a sandbox to the host', async () => {
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .filter((entry) => entry && entry.family === 'IPv4' && !entry.internal)
      .map((entry) => entry!.address);
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const { port } = server.address() as net.AddressInfo;
    const sandbox = await network.createSandbox('host-probe');

    try {
      for (const address of hostAddresses) {
        const connected = await succeeds('ip', ['netns', 'exec', sandbox.netnsName, 'busybox', 'nc', '-w', '2', address, String(port)]);
        expect({ address, connected }).toEqual({ address, connected: false });
      }
      expect(hostAddresses).toContain(serverSandbox.gateway);
      expect(connections).toBe(0);

      // The server accepts a connection over loopback, so the failures above come from the firewall.
      await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', resolve).once('error', reject));
      await waitFor('the control connection', async () => connections === 1);
    } finally {
      await sandbox.remove();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('removes a sandbox without a trace', async () => {
    const sandbox = await network.createSandbox('short-lived');

    await sandbox.remove();

    expect((await execFileAsync('ip', ['netns', 'list'])).stdout).not.toContain(sandbox.netnsName);
    expect(await succeeds('ip', ['link', 'show', 'dev', sandbox.hostVeth])).toBe(false);
    expect(await readdir(path.join(stateDir, 'leases'))).not.toContain(sandbox.ipAddress);
    await expect(sandbox.remove()).resolves.toBeUndefined();
  });

  it('rejects a second sandbox with the same id', async () => {
    await expect(network.createSandbox('server')).rejects.toMatchObject({ code: 'SANDBOX_EXISTS' });
  });

  it('finds and removes leftover sandboxes', async () => {
    const leftoverSandbox = await network.createSandbox('leftover');
    const keptSandbox = await network.createSandbox('kept');
    try {
      const removed = await network.removeLeftoverSandboxes(['kept', 'server']);

      expect(removed.map((listing) => listing.sandboxId)).toEqual(['leftover']);
      expect(await succeeds('ip', ['link', 'show', 'dev', leftoverSandbox.hostVeth])).toBe(false);
      expect((await network.listSandboxes()).map((listing) => listing.sandboxId).sort()).toEqual(['kept', 'server']);
    } finally {
      await keptSandbox.remove();
      await leftoverSandbox.remove();
    }
  });

  it('drops traffic from the bridge to link-local addresses', async () => {
    const rules = await bridgeRules(bridgeName);

    const linkLocalDrop = rules.filter(
      (rule) => rule.includes('-d 169.254.0.0/16') && rule.includes(`-i ${bridgeName}`) && rule.endsWith('-j DROP'),
    );
    expect(linkLocalDrop).toHaveLength(1);
  });

  it('masquerades traffic from the subnet that leaves the bridge', async () => {
    const rules = await bridgeRules(bridgeName);

    expect(rules).toContain(`-A ${firewallChains(bridgeName).postrouting} -s ${subnet} ! -o ${bridgeName} -j MASQUERADE`);
  });

  it('adds no rule when set up twice', async () => {
    const before = await bridgeRules(bridgeName);

    await network.setup();

    const after = await bridgeRules(bridgeName);
    expect(after).toEqual(before);
    const chains = firewallChains(bridgeName);
    expect(after.filter((rule) => rule.startsWith('-A INPUT') && rule.endsWith(`-j ${chains.input}`))).toHaveLength(1);
    expect(after.filter((rule) => rule.startsWith('-A FORWARD') && rule.endsWith(`-j ${chains.forward}`))).toHaveLength(1);
    expect(after.filter((rule) => rule.startsWith('-A POSTROUTING') && rule.endsWith(`-j ${chains.postrouting}`))).toHaveLength(1);
  });

  it('writes a resolv.conf with a nameserver containers can reach', async () => {
    const text = await containerResolvConf();

    expect(text).toMatch(/^nameserver \d+\.\d+\.\d+\.\d+$/m);
    expect(text).not.toMatch(/^nameserver 127\./m);
  });

  it('tears down the bridge, its chains, sandboxes and leases', async () => {
    const sandbox = await network.createSandbox('at-teardown');
    httpServer.kill();

    await network.teardown();

    expect(await bridgeRules(bridgeName)).toEqual([]);
    expect(await succeeds('ip', ['link', 'show', 'dev', bridgeName])).toBe(false);
    expect(await succeeds('ip', ['link', 'show', 'dev', sandbox.hostVeth])).toBe(false);
    expect((await execFileAsync('ip', ['netns', 'list'])).stdout).not.toContain(`${bridgeName}-`);
    expect(await readdir(path.join(stateDir, 'leases'))).toEqual([]);
    await expect(network.teardown()).resolves.toBeUndefined();
  });
});
