import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerNofileLimit } from '../../../shared/container/host-limits.ts';
import { MASKED_PATHS } from '../../../shared/container/runtime-spec.ts';
import { BUSYBOX_USER } from '../../support/rootfs.ts';
import { CGROUP_ROOT, createRuntimeFixture, runCollecting, waitFor, type RuntimeFixture } from './runtime-fixture.ts';

/** Bit numbers from linux/capability.h of the capabilities the spec grants. */
const GRANTED_CAPABILITY_BITS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 27, 29, 31];
const CAP_NET_RAW_BIT = 13n;
const EXPECTED_CAPABILITY_MASK = GRANTED_CAPABILITY_BITS.reduce((mask, bit) => mask | (1n << BigInt(bit)), 0n);

/** Masked paths that exist on this host with content, so an empty view inside proves the mask. */
const MASKED_PATHS_WITH_CONTENT = MASKED_PATHS.filter((maskedPath) => {
  try {
    return statSync(maskedPath).isDirectory() ? readdirSync(maskedPath).length > 0 : readFileSync(maskedPath).length > 0;
  } catch {
    return false;
  }
});

function statusField(status: string, field: string): string {
  const line = status.split('\n').find((candidate) => candidate.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim() ?? '';
}

describe('container limits', () => {
  let fixture: RuntimeFixture;

  beforeAll(async () => {
    fixture = await createRuntimeFixture();
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  it('stops a fork loop at the pids limit', async () => {
    const script = 'i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo $i; sleep 60 & done';

    const result = await runCollecting(fixture, fixture.newId('forks'), ['sh', '-c', script], { pidsLimit: 16 });

    // Each number is printed before its fork, so the last one is the fork that failed.
    const attempts = result.stdout.trim().split('\n').map(Number);
    expect(result.stderr).toMatch(/can't fork/);
    expect(Math.max(...attempts)).toBeLessThanOrEqual(16);
  });

  it('finds masked paths with content on this host', () => {
    // /proc/kcore and several others do not exist on every kernel; at least some must, or the next test checks nothing.
    expect(MASKED_PATHS_WITH_CONTENT.length).toBeGreaterThan(0);
  });

  it.each(MASKED_PATHS_WITH_CONTENT)('shows %s empty inside the container', async (maskedPath) => {
    const isDirectory = statSync(maskedPath).isDirectory();
    const command = isDirectory ? `ls -A ${maskedPath}` : `cat ${maskedPath}`;

    const result = await runCollecting(fixture, fixture.newId('masked'), ['sh', '-c', command]);

    expect(result.stdout).toBe('');
  });

  it('reads nothing from /proc/kcore', async () => {
    const result = await runCollecting(fixture, fixture.newId('kcore'), ['sh', '-c', 'head -c 16 /proc/kcore | wc -c']);

    expect(result.stdout.trim()).toBe('0');
  });

  it('keeps /proc/sys read-only', async () => {
    // ip_forward belongs to the container's own network namespace, so even a write that got through would not touch the host.
    const script = 'cat /proc/sys/net/ipv4/ip_forward > /proc/sys/net/ipv4/ip_forward';

    const result = await runCollecting(fixture, fixture.newId('proc-sys'), ['sh', '-c', script]);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Read-only file system/);
  });

  it('rejects mount', async () => {
    const result = await runCollecting(fixture, fixture.newId('mount'), ['sh', '-c', 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/permission denied|not permitted/i);
  });

  it('rejects raw sockets', async () => {
    const result = await runCollecting(fixture, fixture.newId('raw'), ['ping', '-c', '1', '-W', '1', '127.0.0.1']);

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/permission denied/i);
  });

  it('sets NoNewPrivs and the capability masks without NET_RAW', async () => {
    const { stdout: status } = await runCollecting(fixture, fixture.newId('status'), ['cat', '/proc/self/status']);

    expect(statusField(status, 'NoNewPrivs')).toBe('1');
    expect(BigInt(`0x${statusField(status, 'CapBnd')}`)).toBe(EXPECTED_CAPABILITY_MASK);
    expect(BigInt(`0x${statusField(status, 'CapEff')}`)).toBe(EXPECTED_CAPABILITY_MASK);
    expect(BigInt(`0x${statusField(status, 'CapEff')}`) & (1n << CAP_NET_RAW_BIT)).toBe(0n);
    expect(BigInt(`0x${statusField(status, 'CapInh')}`)).toBe(0n);
  });

  it('leaves a non-root user without effective capabilities', async () => {
    const user = { uid: BUSYBOX_USER.uid, gid: BUSYBOX_USER.gid, additionalGids: [] };

    const { stdout: status } = await runCollecting(fixture, fixture.newId('user'), ['cat', '/proc/self/status'], { user });

    expect(statusField(status, 'Uid').split(/\s+/)[0]).toBe(String(BUSYBOX_USER.uid));
    expect(BigInt(`0x${statusField(status, 'CapEff')}`)).toBe(0n);
    expect(BigInt(`0x${statusField(status, 'CapBnd')}`)).toBe(EXPECTED_CAPABILITY_MASK);
  });

  it('sets the open files limit to the host hard limit', async () => {
    const expected = String(await containerNofileLimit());

    const result = await runCollecting(fixture, fixture.newId('nofile'), ['sh', '-c', 'ulimit -Sn; ulimit -Hn']);

    expect(result.stdout).toBe(`${expected}\n${expected}\n`);
  });

  it('writes the memory, pids and CPU limits to the container cgroup', async () => {
    const shared = path.join(fixture.dir, 'cgroup-shared');
    await mkdir(shared);
    const id = fixture.newId('cgroup');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'touch /shared/ready; while [ ! -e /shared/go ]; do sleep 0.05; done'], {
      memoryBytes: 48 * 1024 * 1024,
      pidsLimit: 33,
      cpus: 0.5,
      mounts: [{ source: shared, destination: '/shared', readOnly: false }],
    });
    const cgroupFile = (controller: string, file: string) => path.join(CGROUP_ROOT, controller, fixture.cgroupParent, id, file);

    const run = fixture.runc.run(id, bundle.dir, { timeoutMs: 60_000 });
    try {
      await waitFor('the container to start', async () => (await readFile(path.join(shared, 'ready')).catch(() => undefined)) !== undefined);

      expect((await readFile(cgroupFile('memory', 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(48 * 1024 * 1024));
      expect((await readFile(cgroupFile('pids', 'pids.max'), 'utf8')).trim()).toBe('33');
      expect((await readFile(cgroupFile('cpu', 'cpu.cfs_quota_us'), 'utf8')).trim()).toBe('50000');
      expect((await readFile(cgroupFile('cpu', 'cpu.cfs_period_us'), 'utf8')).trim()).toBe('100000');
    } finally {
      await writeFile(path.join(shared, 'go'), '');
      await run;
      await bundle.remove();
    }
  });
});
