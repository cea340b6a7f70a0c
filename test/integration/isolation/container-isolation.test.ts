import { randomBytes, randomInt } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countOomKills } from '../../../shared/container/oom-kills.ts';
import { BridgeNetwork } from '../../../shared/network/bridge-network.ts';
import type { NetworkSandbox } from '../../../shared/network/network-sandbox.ts';
import { CGROUP_ROOT, createRuntimeFixture, runCollecting, waitFor, type RuntimeFixture } from '../runtime/runtime-fixture.ts';

const execFileAsync = promisify(execFile);

/** Masked paths that exist on this kernel (6.18 has no /proc/kcore) and have content on the host. */
const MASKED_WITH_CONTENT = ['/proc/keys', '/proc/timer_list', '/sys/firmware'];

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(body));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on('error', reject);
  });
}

describe('container isolation', () => {
  let fixture: RuntimeFixture;

  beforeAll(async () => {
    fixture = await createRuntimeFixture();
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  it.each([
    ['a new user namespace', 'unshare -U true'],
    ['a new network namespace', 'unshare -n true'],
    ['a new mount namespace', 'unshare -m true'],
  ])('rejects unshare of %s', async (_what, command) => {
    const result = await runCollecting(fixture, fixture.newId('unshare'), ['sh', '-c', command]);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Operation not permitted/);
  });

  it('rejects mount', async () => {
    const result = await runCollecting(fixture, fixture.newId('mount'), ['sh', '-c', 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Operation not permitted|permission denied/i);
  });

  it.each([
    ['a block device (the first disk)', 'mknod /tmp/disk b 8 0'],
    ['a character device the container may use (null)', 'mknod /tmp/null c 1 3'],
    ['a character device of host memory (/dev/mem)', 'mknod /tmp/mem c 1 1'],
  ])('rejects mknod of %s', async (_what, command) => {
    const result = await runCollecting(fixture, fixture.newId('mknod'), ['sh', '-c', command]);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Operation not permitted/);
  });

  it('still makes FIFOs', async () => {
    const result = await runCollecting(fixture, fixture.newId('fifo'), ['sh', '-c', 'mkfifo /tmp/fifo && stat -c %F /tmp/fifo']);

    expect(result.stdout.trim()).toBe('fifo');
  });

  it('rejects raw sockets', async () => {
    const result = await runCollecting(fixture, fixture.newId('raw'), ['ping', '-c', '1', '-W', '1', '127.0.0.1']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/permission denied|not permitted/i);
  });

  it('blocks a syscall that needs no capability: reading the clock adjustment', async () => {
    // adjtimex with no modes only reads, which any process may do: only the seccomp filter stops it.
    const host = await execFileAsync('busybox', ['adjtimex']).then(
      () => 'allowed',
      () => 'blocked',
    );
    const result = await runCollecting(fixture, fixture.newId('adjtimex'), ['adjtimex']);

    expect(host).toBe('allowed');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Operation not permitted/);
  });

  it('blocks reading the kernel log', async () => {
    const result = await runCollecting(fixture, fixture.newId('dmesg'), ['dmesg']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
  });

  it('finds no /proc/kcore on this kernel, so it checks other masked paths', async () => {
    const kcore = await readFile('/proc/kcore').then(
      () => 'present',
      (error: NodeJS.ErrnoException) => error.code,
    );
    const result = await runCollecting(fixture, fixture.newId('kcore'), ['sh', '-c', 'head -c 16 /proc/kcore | wc -c']);

    expect(kcore).toBe('ENOENT');
    expect(result.stdout.trim()).toBe('0');
  });

  it.each(MASKED_WITH_CONTENT)('shows the masked path %s empty', async (maskedPath) => {
    const onHost = (await execFileAsync('sh', ['-c', `ls -A ${maskedPath} 2>/dev/null || cat ${maskedPath}`])).stdout;
    const command = maskedPath.startsWith('/sys') ? `ls -A ${maskedPath}` : `cat ${maskedPath}`;

    const result = await runCollecting(fixture, fixture.newId('masked'), ['sh', '-c', command]);

    expect(onHost.length).toBeGreaterThan(0);
    expect(result.stdout).toBe('');
  });

  it('logs the OOM kill of a memory hog', async () => {
    const id = fixture.newId('oom');
    const cgroupsPath = `${fixture.cgroupParent}/${id}`;
    const before = await countOomKills(cgroupsPath);

    // tail keeps the whole "line" of zeros in memory, far past the 32 MiB limit.
    const result = await runCollecting(fixture, id, ['sh', '-c', 'head -c 268435456 /dev/zero | tail -n 1 > /dev/null'], {
      memoryBytes: 32 * 1024 * 1024,
    });

    expect(result.exitCode).toBe(137);
    expect(before).toBe(0);
    // The kernel may kill a second task of the cgroup (head after tail) before memory frees.
    expect(await countOomKills(cgroupsPath)).toBeGreaterThanOrEqual(1);
  });
});

describe('a fork bomb beside a neighbour', () => {
  const bridgeName = `swi${randomBytes(4).toString('hex')}`;
  let stateDir: string;
  let network: BridgeNetwork;
  let fixture: RuntimeFixture;
  let neighbourSandbox: NetworkSandbox;
  let neighbour: Promise<number> | undefined;

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'slipway-isolation-'));
    network = new BridgeNetwork({ bridgeName, subnet: `10.245.${randomInt(0, 256)}.0/24`, stateDir });
    await network.setup();
    fixture = await createRuntimeFixture();

    const webRoot = path.join(fixture.rootfs, 'www');
    await mkdir(webRoot, { recursive: true });
    await writeFile(path.join(webRoot, 'index.html'), 'neighbour\n');
    neighbourSandbox = await network.createSandbox('neighbour');
    const id = fixture.newId('neighbour');
    const bundle = await fixture.bundle(id, ['httpd', '-f', '-p', '8080', '-h', '/www'], { networkNamespacePath: neighbourSandbox.netnsPath });
    neighbour = fixture.runc.run(id, bundle.dir, { timeoutMs: 120_000 }).catch(() => -1);
    await waitFor('the neighbour to answer', () => get(`http://${neighbourSandbox.ipAddress}:8080/`).then(() => true, () => false));
  });

  afterAll(async () => {
    try {
      await fixture?.cleanup();
      await neighbour;
      await network?.teardown();
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  it('stops at the pids limit while the neighbour keeps answering', async () => {
    const id = fixture.newId('bomb');
    const pidsDir = path.join(CGROUP_ROOT, 'pids', fixture.cgroupParent, id);
    // The classic shell fork bomb; the test stops the container once it has measured.
    const bundle = await fixture.bundle(id, ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 120'], { pidsLimit: 32 });
    const stop = new AbortController();
    const bomb = fixture.runc.run(id, bundle.dir, { signal: stop.signal, timeoutMs: 120_000 }).catch((error: { code?: string }) => error.code);

    let peakPids = 0;
    let failedForks = 0;
    const answers: string[] = [];
    await waitFor('the fork bomb to reach its limit', async () => {
      const events = await readFile(path.join(pidsDir, 'pids.events'), 'utf8').catch(() => '');
      failedForks = Number(/^max (\d+)/m.exec(events)?.[1] ?? 0);
      return failedForks > 0;
    });
    for (let request = 0; request < 20; request += 1) {
      const current = Number((await readFile(path.join(pidsDir, 'pids.current'), 'utf8').catch(() => '0')).trim());
      peakPids = Math.max(peakPids, current);
      answers.push(await get(`http://${neighbourSandbox.ipAddress}:8080/`).catch((error: Error) => error.message));
    }
    stop.abort();

    expect(await bomb).toBe('CONTAINER_ABORTED');
    expect(failedForks).toBeGreaterThan(0);
    expect(peakPids).toBeLessThanOrEqual(32);
    expect(answers).toEqual(Array(20).fill('neighbour\n'));
  });
});
