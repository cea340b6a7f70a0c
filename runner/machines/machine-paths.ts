import path from 'node:path';

/** Where a machine's files live on the runner's disk: `<dataDir>/machines/<id>/…`. */
export interface MachinePaths {
  root: string;
  upper: string;
  work: string;
  rootfs: string;
  bundle: string;
  stdoutLog: string;
  stderrLog: string;
  exitCodeFile: string;
  resolvConf: string;
  hosts: string;
  hostname: string;
}

export function machinePaths(dataDir: string, machineId: string): MachinePaths {
  const root = path.join(dataDir, 'machines', machineId);
  return {
    root,
    upper: path.join(root, 'upper'),
    work: path.join(root, 'work'),
    rootfs: path.join(root, 'rootfs'),
    bundle: path.join(root, 'bundle'),
    stdoutLog: path.join(root, 'stdout.log'),
    stderrLog: path.join(root, 'stderr.log'),
    exitCodeFile: path.join(root, 'exit-code'),
    resolvConf: path.join(root, 'resolv.conf'),
    hosts: path.join(root, 'hosts'),
    hostname: path.join(root, 'hostname'),
  };
}

/** Machine ids are `m-` and 12 hex digits: short enough for interface and namespace names. */
export function isMachineId(value: string): boolean {
  return /^m-[0-9a-f]{12}$/.test(value);
}
