import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { mountOverlay } from '../../../../shared/container/overlay-mount.ts';
import { snapshotTree, type TreeEntry } from '../../images/support/tree-snapshot.ts';

const execFileAsync = promisify(execFile);

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs skopeo with the insecure policy (the test has no signature policy); never throws on a failed exit. */
export async function skopeo(...args: string[]): Promise<ToolResult> {
  return run('skopeo', ['--insecure-policy', ...args]);
}

export async function run(command: string, args: string[]): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await execFileAsync(command, args, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? String(error) };
  }
}

/** Unpacks `<layoutDir>:<tag>` with umoci into a new bundle under `scratch` and lists its rootfs. */
export async function umociTree(scratch: string, layoutDir: string, tag: string): Promise<TreeEntry[]> {
  const bundle = path.join(await mkdtemp(path.join(scratch, 'umoci-')), 'bundle');
  const result = await run('umoci', ['unpack', '--image', `${layoutDir}:${tag}`, bundle]);
  if (result.code !== 0) throw new Error(`umoci unpack failed: ${result.stderr}`);
  return snapshotTree(path.join(bundle, 'rootfs'));
}

/**
 * Lists the root a runner gives a container of these layer folders (bottom layer first):
 * the same overlayfs stack of layer-cache folders, with an empty upper directory.
 */
export async function runnerTree(scratch: string, lowerDirs: string[]): Promise<TreeEntry[]> {
  const folder = await mkdtemp(path.join(scratch, 'runner-root-'));
  const overlay = await mountOverlay({
    lowerDirs,
    upperDir: path.join(folder, 'upper'),
    workDir: path.join(folder, 'work'),
    target: path.join(folder, 'rootfs'),
  });
  try {
    return await snapshotTree(path.join(folder, 'rootfs'));
  } finally {
    await overlay.unmount();
    await rm(folder, { recursive: true, force: true });
  }
}
