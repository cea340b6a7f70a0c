import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeSpec } from './runtime-spec-types.ts';

/**
 * An OCI bundle folder: config.json whose `root.path` names the container's root folder
 * (absolute, so the root need not sit inside the bundle). runc also writes its log file here.
 */
export interface Bundle {
  dir: string;
  configPath: string;
  /** Removes the bundle folder; safe to call twice. It does not touch the root folder. */
  remove(): Promise<void>;
}

/** Creates `dir` (which must not exist yet, so two containers never share a bundle) and writes config.json. */
export async function writeBundle(dir: string, spec: RuntimeSpec): Promise<Bundle> {
  const bundleDir = path.resolve(dir);
  await mkdir(path.dirname(bundleDir), { recursive: true });
  await mkdir(bundleDir);

  const configPath = path.join(bundleDir, 'config.json');
  const remove = () => removeBundle(bundleDir);
  try {
    await writeFile(configPath, `${JSON.stringify(spec, null, 2)}\n`, { flag: 'wx' });
  } catch (error) {
    await remove();
    throw error;
  }
  return { dir: bundleDir, configPath, remove };
}

export async function removeBundle(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
