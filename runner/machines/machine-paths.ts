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
  /** How far each log file has been shipped to the app's log stream, in bytes. */
  stdoutOffset: string;
  stderrOffset: string;
  exitCodeFile: string;
  /** The machine's plan, address and health check (machine-record.ts); written last when the machine is made. */
  record: string;
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
    stdoutOffset: path.join(root, 'stdout.offset'),
    stderrOffset: path.join(root, 'stderr.offset'),
    exitCodeFile: path.join(root, 'exit-code'),
    record: path.join(root, 'machine.json'),
    resolvConf: path.join(root, 'resolv.conf'),
    hosts: path.join(root, 'hosts'),
    hostname: path.join(root, 'hostname'),
  };
}

/** Machine ids are `m-` and 12 hex digits: short enough for interface and namespace names. */
export function isMachineId(value: string): boolean {
  return /^m-[0-9a-f]{12}$/.test(value);
}
