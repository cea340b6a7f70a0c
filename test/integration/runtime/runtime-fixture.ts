import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeBundle, type Bundle } from '../../../shared/container/bundle.ts';
import { Runc } from '../../../shared/container/runc.ts';
import { createRuntimeSpec, type RuntimeSpecInput } from '../../../shared/container/runtime-spec.ts';
import { makeBusyboxRoot } from '../../support/rootfs.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/** A busybox root, a runc state folder and a cgroup parent of one test file, all removed by cleanup(). */
export interface RuntimeFixture {
  dir: string;
  rootfs: string;
  runc: Runc;
  /** Parent of every container cgroup of this fixture, such as /slipway-test-1a2b3c. */
  cgroupParent: string;
  newId(label: string): string;
  /** Writes a bundle for a container that runs `args` in the busybox root as root, with small limits. */
  bundle(id: string, args: string[], overrides?: Partial<RuntimeSpecInput>): Promise<Bundle>;
  cleanup(): Promise<void>;
}

export async function createRuntimeFixture(): Promise<RuntimeFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'slipway-runtime-'));
  const rootfs = path.join(dir, 'rootfs');
  await makeBusyboxRoot(rootfs);
  const runc = new Runc({ stateDir: path.join(dir, 'runc-state') });
  const suffix = randomBytes(3).toString('hex');
  const cgroupParent = `/slipway-test-${suffix}`;
  let counter = 0;

  return {
    dir,
    rootfs,
    runc,
    cgroupParent,
    newId: (label) => `test-${suffix}-${label}-${(counter += 1)}`,
    bundle: async (id, args, overrides = {}) => {
      const spec = await createRuntimeSpec({
        rootfs,
        args,
        env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
        hostname: id.slice(0, 63),
        memoryBytes: 64 * 1024 * 1024,
        pidsLimit: 64,
        cgroupsPath: `${cgroupParent}/${id}`,
        ...overrides,
      });
      return writeBundle(path.join(dir, 'bundles', id), spec);
    },
    cleanup: async () => {
      for (const container of await runc.list().catch(() => [])) {
        await runc.delete(container.id, { force: true }).catch(() => undefined);
      }
      for (const controller of await readdir(CGROUP_ROOT)) {
        await rmdir(path.join(CGROUP_ROOT, controller, cgroupParent)).catch(() => undefined);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a foreground container and collects its output as text. */
export async function runCollecting(
  fixture: RuntimeFixture,
  id: string,
  args: string[],
  overrides: Partial<RuntimeSpecInput> = {},
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const bundle = await fixture.bundle(id, args, overrides);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  try {
    const exitCode = await fixture.runc.run(id, bundle.dir, {
      stdout: (chunk) => stdout.push(chunk),
      stderr: (chunk) => stderr.push(chunk),
      timeoutMs: 60_000,
    });
    return { exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
  } finally {
    await bundle.remove();
  }
}

/** Lists the controllers (cgroup v1 hierarchies and the v2 one) in which `cgroupPath` still exists. */
export async function cgroupsLeft(cgroupPath: string): Promise<string[]> {
  const left: string[] = [];
  for (const controller of await readdir(CGROUP_ROOT)) {
    const exists = await access(path.join(CGROUP_ROOT, controller, cgroupPath)).then(
      () => true,
      () => false,
    );
    if (exists) left.push(controller);
  }
  return left;
}

/** Lists the mount points in this mount namespace at or below `folder`. */
export async function mountsUnder(folder: string): Promise<string[]> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === folder || mountPoint.startsWith(`${folder}/`));
}

/** Polls `check` every 50 ms until it returns true; throws after `limitMs`. */
export async function waitFor(description: string, check: () => Promise<boolean>, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
