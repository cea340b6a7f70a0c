import path from 'node:path';
import { ValidationError } from '../errors.ts';
import { containerNofileLimit } from './host-limits.ts';
import { checkRuntimeMountFolders, checkWorkingDirectory } from './root-checks.ts';
import type { RuntimeSpec, SpecDeviceRule, SpecIdMapping, SpecMount, SpecNamespace, SpecResources } from './runtime-spec-types.ts';
import { defaultSeccomp } from './seccomp-profile.ts';

export interface BindMount {
  /** A host path: a volume folder, or a file such as the generated resolv.conf. */
  source: string;
  /** An absolute path inside the container. */
  destination: string;
  readOnly: boolean;
}

export interface RuntimeSpecInput {
  /** Host path of the container's root folder (an overlay mount). */
  rootfs: string;
  args: string[];
  /** `NAME=value` entries. */
  env: string[];
  /** Working directory inside the container; absolute. */
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  hostname: string;
  /** A network namespace to join, such as /run/netns/<name>; absent gives a new one with only loopback. */
  networkNamespacePath?: string;
  mounts?: BindMount[];
  memoryBytes: number;
  pidsLimit: number;
  /** CPU time as a number of CPUs, like `docker run --cpus`: 0.5 is half of one CPU. Absent means no limit. */
  cpus?: number;
  /** A path below each cgroup controller's hierarchy, such as /slipway/<container id>. */
  cgroupsPath: string;
  /** Always false in Slipway: output goes to pipes and log files. */
  terminal?: boolean;
  /**
   * Runs the container in a user namespace where container ids 0 to size-1 are host ids
   * hostId to hostId+size-1, so root inside is an unprivileged user outside. The root
   * folder must then be owned by the mapped ids (see id-shift.ts).
   */
  userNamespace?: IdRange;
}

/** A range of host user and group ids that a user namespace maps container id 0 onto. */
export interface IdRange {
  hostId: number;
  size: number;
}

/** Docker's default capability set without CAP_NET_RAW, so containers cannot open raw sockets. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Docker's masked paths: runc bind-mounts /dev/null over files and an empty tmpfs over folders. */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** CFS period in microseconds; Docker's `--cpus` uses the same 100 ms. */
const CPU_PERIOD_US = 100_000;

/**
 * Builds the OCI runtime spec of one container: new pid, mount, network, ipc and uts
 * namespaces (and a user namespace when asked), Docker's default capabilities without
 * NET_RAW, no new privileges, Slipway's seccomp allow-list, Docker's masked and read-only
 * paths and device allow-list, cgroup limits, and RLIMIT_NOFILE at the host's hard limit.
 * Reads /proc/self/limits, the seccomp profile file and the top of the root folder, whose
 * /proc, /dev, /sys and working directory must be safe to mount and enter (root-checks.ts).
 */
export async function createRuntimeSpec(input: RuntimeSpecInput): Promise<RuntimeSpec> {
  validateInput(input);
  await checkRuntimeMountFolders(input.rootfs);
  await checkWorkingDirectory(input.rootfs, input.cwd);
  const nofile = await containerNofileLimit();
  const seccomp = await defaultSeccomp();
  const capabilities = [...DEFAULT_CAPABILITIES];

  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal ?? false,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: [...input.user.additionalGids] },
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      // Inheritable and ambient stay empty, as in Docker since 20.10.14: a non-root user then
      // ends up with no capabilities after execve, and root keeps the bounding set.
      capabilities: { bounding: capabilities, effective: [...capabilities], permitted: [...capabilities] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname,
    mounts: [...defaultMounts(sysfsAllowed(input)), ...(input.mounts ?? []).map(bindMount)],
    linux: {
      cgroupsPath: input.cgroupsPath,
      namespaces: namespaces(input.networkNamespacePath, input.userNamespace !== undefined),
      resources: resources(input),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      seccomp,
      ...(input.userNamespace ? { uidMappings: idMappings(input.userNamespace), gidMappings: idMappings(input.userNamespace) } : {}),
    },
  };
}

function namespaces(networkNamespacePath: string | undefined, userNamespace: boolean): SpecNamespace[] {
  const network: SpecNamespace = networkNamespacePath ? { type: 'network', path: networkNamespacePath } : { type: 'network' };
  const created: SpecNamespace[] = [{ type: 'pid' }, { type: 'mount' }, network, { type: 'ipc' }, { type: 'uts' }];
  return userNamespace ? [{ type: 'user' }, ...created] : created;
}

function idMappings(range: IdRange): SpecIdMapping[] {
  return [{ containerID: 0, hostID: range.hostId, size: range.size }];
}

/**
 * Tells whether the container may mount sysfs. The kernel allows it only in a network
 * namespace that belongs to the container's user namespace, so a container in a user
 * namespace that joins a network namespace made on the host gets an empty read-only
 * tmpfs at /sys instead.
 */
function sysfsAllowed(input: RuntimeSpecInput): boolean {
  return input.userNamespace === undefined || input.networkNamespacePath === undefined;
}

/** Returns the mounts Docker gives every container, with Docker's default sizes and modes. */
function defaultMounts(withSysfs: boolean): SpecMount[] {
  const sys: SpecMount = withSysfs
    ? { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'ro', 'size=0', 'mode=555'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
  ];
}

function bindMount(mount: BindMount): SpecMount {
  return {
    destination: mount.destination,
    type: 'bind',
    source: mount.source,
    options: ['rbind', 'rprivate', 'nosuid', 'nodev', mount.readOnly ? 'ro' : 'rw'],
  };
}

function resources(input: RuntimeSpecInput): SpecResources {
  const result: SpecResources = {
    devices: DEVICE_RULES.map((rule) => ({ ...rule })),
    // swap equal to the limit means no swap on top of it (memory.memsw.limit_in_bytes on cgroup v1).
    memory: { limit: input.memoryBytes, swap: input.memoryBytes },
    pids: { limit: input.pidsLimit },
  };
  if (input.cpus !== undefined) {
    result.cpu = { quota: Math.round(input.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US };
  }
  return result;
}

/**
 * Deny every device, then allow the ones Docker allows a container to read and write: null,
 * zero, full, random, urandom, tty, ptmx and the pseudo-terminals under /dev/pts.
 * NOTE: runc 1.1 appends its own allow-list after these rules (mknod of any device, and
 * /dev/console), and creates the null, zero, full, random, urandom and tty nodes itself.
 */
const DEVICE_RULES: readonly SpecDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

function validateInput(input: RuntimeSpecInput): void {
  if (!path.isAbsolute(input.rootfs)) invalid(`rootfs ${JSON.stringify(input.rootfs)} is not an absolute host path`);
  if (input.args.length === 0) invalid('args is empty: a container needs a command to run');
  if (!input.cwd.startsWith('/')) invalid(`cwd ${JSON.stringify(input.cwd)} is not an absolute container path`);
  if (input.hostname.length === 0 || input.hostname.length > 64) invalid(`hostname ${JSON.stringify(input.hostname)} is not 1 to 64 characters long`);
  if (!input.cgroupsPath.startsWith('/')) invalid(`cgroupsPath ${JSON.stringify(input.cgroupsPath)} does not start with /`);

  const badEnv = input.env.find((entry) => entry.indexOf('=') < 1);
  if (badEnv !== undefined) invalid(`env entry ${JSON.stringify(badEnv)} is not of the form NAME=value`);

  for (const mount of input.mounts ?? []) {
    if (!mount.destination.startsWith('/')) invalid(`mount destination ${JSON.stringify(mount.destination)} is not absolute`);
    if (!path.isAbsolute(mount.source)) invalid(`mount source ${JSON.stringify(mount.source)} is not an absolute host path`);
  }
  if (!Number.isSafeInteger(input.memoryBytes) || input.memoryBytes <= 0) invalid(`memoryBytes ${input.memoryBytes} is not a positive integer`);
  if (!Number.isSafeInteger(input.pidsLimit) || input.pidsLimit <= 0) invalid(`pidsLimit ${input.pidsLimit} is not a positive integer`);
  if (input.cpus !== undefined && !(input.cpus >= 0.01)) invalid(`cpus ${input.cpus} is below 0.01`);
  if (input.userNamespace) validateIdRange(input.userNamespace);
}

/** Host id 0 must stay outside the range, or root inside would be root outside. */
function validateIdRange(range: IdRange): void {
  if (!Number.isSafeInteger(range.hostId) || range.hostId < 1) invalid(`userNamespace.hostId ${range.hostId} is not a positive integer`);
  if (!Number.isSafeInteger(range.size) || range.size < 1) invalid(`userNamespace.size ${range.size} is not a positive integer`);
  if (range.hostId + range.size > 2 ** 32 - 1) invalid(`userNamespace ${range.hostId}+${range.size} goes past the last host id 4294967294`);
}

function invalid(reason: string): never {
  throw new ValidationError('RUNTIME_SPEC_INVALID', `Cannot create the container spec: ${reason}.`);
}
