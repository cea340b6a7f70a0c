import { describe, expect, it } from 'vitest';
import { containerNofileLimit } from './host-limits.ts';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, createRuntimeSpec, type RuntimeSpecInput } from './runtime-spec.ts';

function input(overrides: Partial<RuntimeSpecInput> = {}): RuntimeSpecInput {
  return {
    rootfs: '/var/lib/slipway/containers/c1/rootfs',
    args: ['/bin/sh', '-c', 'echo hello'],
    env: ['PATH=/usr/bin:/bin', 'HOME=/root'],
    cwd: '/app',
    user: { uid: 1000, gid: 1000, additionalGids: [29] },
    hostname: 'c1',
    memoryBytes: 256 * 1024 * 1024,
    pidsLimit: 512,
    cgroupsPath: '/slipway/c1',
    ...overrides,
  };
}

describe('createRuntimeSpec', () => {
  it('copies the process fields of the input', async () => {
    const spec = await createRuntimeSpec(input());

    expect(spec.ociVersion).toBe('1.0.2');
    expect(spec.process).toMatchObject({
      terminal: false,
      args: ['/bin/sh', '-c', 'echo hello'],
      env: ['PATH=/usr/bin:/bin', 'HOME=/root'],
      cwd: '/app',
      user: { uid: 1000, gid: 1000, additionalGids: [29] },
      noNewPrivileges: true,
    });
    expect(spec.root).toEqual({ path: '/var/lib/slipway/containers/c1/rootfs', readonly: false });
    expect(spec.hostname).toBe('c1');
  });

  it('gives the default capabilities without NET_RAW and nothing inheritable', async () => {
    const { capabilities } = (await createRuntimeSpec(input())).process;

    expect(capabilities.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(capabilities.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(capabilities.permitted).toEqual([...DEFAULT_CAPABILITIES]);
    expect(capabilities.bounding).not.toContain('CAP_NET_RAW');
    expect(capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(capabilities.inheritable).toBeUndefined();
    expect(capabilities.ambient).toBeUndefined();
  });

  it('sets RLIMIT_NOFILE to the capped host hard limit', async () => {
    const expected = await containerNofileLimit();

    const { rlimits } = (await createRuntimeSpec(input())).process;

    expect(rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: expected, soft: expected }]);
  });

  it('creates new pid, mount, network, ipc and uts namespaces', async () => {
    const { namespaces } = (await createRuntimeSpec(input())).linux;

    expect(namespaces.map((namespace) => namespace.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(namespaces.every((namespace) => namespace.path === undefined)).toBe(true);
  });

  it('joins a given network namespace', async () => {
    const { namespaces } = (await createRuntimeSpec(input({ networkNamespacePath: '/run/netns/slipway0-c1' }))).linux;

    expect(namespaces).toContainEqual({ type: 'network', path: '/run/netns/slipway0-c1' });
  });

  it('masks and write-protects the Docker paths', async () => {
    const { linux } = await createRuntimeSpec(input());

    expect(linux.maskedPaths).toEqual([...MASKED_PATHS]);
    expect(linux.maskedPaths).toContain('/proc/kcore');
    expect(linux.maskedPaths).toContain('/sys/devices/virtual/powercap');
    expect(linux.readonlyPaths).toEqual([...READONLY_PATHS]);
    expect(linux.readonlyPaths).toContain('/proc/sysrq-trigger');
  });

  it('mounts the standard filesystems with /sys read-only', async () => {
    const { mounts } = await createRuntimeSpec(input());

    expect(mounts.map((mount) => mount.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);
    expect(mounts.find((mount) => mount.destination === '/sys')?.options).toContain('ro');
    expect(mounts.find((mount) => mount.destination === '/dev')?.type).toBe('tmpfs');
  });

  it('appends bind mounts with their read-only flag', async () => {
    const { mounts } = await createRuntimeSpec(
      input({
        mounts: [
          { source: '/srv/volumes/data', destination: '/data', readOnly: false },
          { source: '/srv/c1/resolv.conf', destination: '/etc/resolv.conf', readOnly: true },
        ],
      }),
    );

    expect(mounts.at(-2)).toMatchObject({ destination: '/data', type: 'bind', source: '/srv/volumes/data' });
    expect(mounts.at(-2)?.options).toContain('rw');
    expect(mounts.at(-1)).toMatchObject({ destination: '/etc/resolv.conf', type: 'bind' });
    expect(mounts.at(-1)?.options).toContain('ro');
  });

  it('denies every device except the default allow-list', async () => {
    const { devices } = (await createRuntimeSpec(input())).linux.resources;

    expect(devices[0]).toEqual({ allow: false, access: 'rwm' });
    const allowed = devices.filter((rule) => rule.allow).map((rule) => `${rule.type} ${rule.major}:${rule.minor ?? '*'}`);
    expect(allowed.sort()).toEqual(['c 136:*', 'c 1:3', 'c 1:5', 'c 1:7', 'c 1:8', 'c 1:9', 'c 5:0', 'c 5:2']);
  });

  it('sets the memory, pids and cgroup path', async () => {
    const { linux } = await createRuntimeSpec(input());

    expect(linux.cgroupsPath).toBe('/slipway/c1');
    expect(linux.resources.memory).toEqual({ limit: 268435456, swap: 268435456 });
    expect(linux.resources.pids).toEqual({ limit: 512 });
    expect(linux.resources.cpu).toBeUndefined();
  });

  it('converts a CPU count to a CFS quota per 100 ms', async () => {
    const { resources } = (await createRuntimeSpec(input({ cpus: 1.5 }))).linux;

    expect(resources.cpu).toEqual({ quota: 150_000, period: 100_000 });
  });

  it('applies the seccomp allow-list with EPERM as the default', async () => {
    const { seccomp } = (await createRuntimeSpec(input())).linux;

    expect(seccomp).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1 });
    expect(seccomp?.syscalls?.length).toBeGreaterThan(10);
  });

  it('creates no user namespace unless asked', async () => {
    const { linux } = await createRuntimeSpec(input());

    expect(linux.namespaces.map((namespace) => namespace.type)).not.toContain('user');
    expect(linux.uidMappings).toBeUndefined();
  });

  it('maps container ids onto a host range in a user namespace', async () => {
    const { linux } = await createRuntimeSpec(input({ userNamespace: { hostId: 1_000_000, size: 65_536 } }));

    expect(linux.namespaces).toContainEqual({ type: 'user' });
    expect(linux.uidMappings).toEqual([{ containerID: 0, hostID: 1_000_000, size: 65_536 }]);
    expect(linux.gidMappings).toEqual([{ containerID: 0, hostID: 1_000_000, size: 65_536 }]);
  });

  it('mounts an empty /sys for a user namespace on a joined netns', async () => {
    const { mounts } = await createRuntimeSpec(
      input({ userNamespace: { hostId: 1_000_000, size: 65_536 }, networkNamespacePath: '/run/netns/slipway0-c1' }),
    );

    const sys = mounts.find((mount) => mount.destination === '/sys');
    expect(sys?.type).toBe('tmpfs');
    expect(sys?.options).toContain('ro');
  });

  it('keeps sysfs for a user namespace with a network namespace of its own', async () => {
    const { mounts } = await createRuntimeSpec(input({ userNamespace: { hostId: 1_000_000, size: 65_536 } }));

    expect(mounts.find((mount) => mount.destination === '/sys')?.type).toBe('sysfs');
  });

  it.each([
    ['an empty command', { args: [] }],
    ['a relative cwd', { cwd: 'app' }],
    ['a relative rootfs', { rootfs: 'rootfs' }],
    ['an env entry without =', { env: ['PATH'] }],
    ['an env entry without a name', { env: ['=value'] }],
    ['a relative mount destination', { mounts: [{ source: '/srv/data', destination: 'data', readOnly: false }] }],
    ['a zero memory limit', { memoryBytes: 0 }],
    ['a fractional pids limit', { pidsLimit: 1.5 }],
    ['a cgroup path without a leading slash', { cgroupsPath: 'slipway/c1' }],
    ['a CPU count below 0.01', { cpus: 0.001 }],
    ['a hostname over 64 characters', { hostname: 'h'.repeat(65) }],
    ['a user namespace that maps host root', { userNamespace: { hostId: 0, size: 65_536 } }],
    ['a user namespace of size zero', { userNamespace: { hostId: 100_000, size: 0 } }],
  ])('rejects %s', async (_case, overrides) => {
    await expect(createRuntimeSpec(input(overrides as Partial<RuntimeSpecInput>))).rejects.toMatchObject({ code: 'RUNTIME_SPEC_INVALID' });
  });
});
