/**
 * The part of the OCI runtime spec (config.json, version 1.0.2, as runc 1.1 reads it) that
 * Slipway writes. Field names and nesting follow the spec's config.md and config-linux.md;
 * fields Slipway never sets are left out.
 */
export interface RuntimeSpec {
  ociVersion: '1.0.2';
  process: SpecProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: SpecMount[];
  linux: SpecLinux;
}

export interface SpecProcess {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids: number[] };
  args: string[];
  /** `NAME=value` entries. */
  env: string[];
  /** An absolute path inside the container. */
  cwd: string;
  capabilities: SpecCapabilities;
  rlimits: SpecRlimit[];
  noNewPrivileges: boolean;
}

/** Capability names with the CAP_ prefix, as in capabilities(7). */
export interface SpecCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface SpecRlimit {
  type: `RLIMIT_${string}`;
  hard: number;
  soft: number;
}

export interface SpecMount {
  /** An absolute path inside the container. */
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface SpecNamespace {
  type: NamespaceType;
  /** Joins an existing namespace (such as /run/netns/<name>) instead of creating one. */
  path?: string;
}

export interface SpecLinux {
  /** With runc's cgroupfs driver, a path below each controller's hierarchy, such as /slipway/<id>. */
  cgroupsPath: string;
  namespaces: SpecNamespace[];
  resources: SpecResources;
  maskedPaths: string[];
  readonlyPaths: string[];
  seccomp?: SpecSeccomp;
  /** With a `user` namespace: container ids 0.. map to host ids hostID.. (config-linux.md, "User namespace mappings"). */
  uidMappings?: SpecIdMapping[];
  gidMappings?: SpecIdMapping[];
}

export interface SpecIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface SpecResources {
  devices: SpecDeviceRule[];
  /** Bytes. */
  memory?: { limit: number; swap?: number };
  pids?: { limit: number };
  /** CFS bandwidth in microseconds: `quota` of CPU time per `period`. */
  cpu?: { quota: number; period: number };
}

export interface SpecDeviceRule {
  allow: boolean;
  /** `c` (character), `b` (block) or `a` (all); absent means all. */
  type?: 'c' | 'b' | 'a';
  /** Absent means any (`*`). */
  major?: number;
  minor?: number;
  /** Any of `r`, `w` and `m` (mknod). */
  access: string;
}

/** The seccomp section of config-linux.md, as seccomp-profile.ts fills it from the profile data file. */
export interface SpecSeccomp {
  defaultAction: string;
  /** The errno of `defaultAction` SCMP_ACT_ERRNO; runc 1.1 reads it (EPERM when absent). */
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: SpecSyscallRule[];
}

export interface SpecSyscallRule {
  names: string[];
  action: string;
  errnoRet?: number;
  /** All conditions must hold; rules for the same syscall are alternatives. */
  args?: SpecSyscallArgument[];
}

/** For SCMP_CMP_MASKED_EQ, `value` is the mask and `valueTwo` the value the masked argument must equal. */
export interface SpecSyscallArgument {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
