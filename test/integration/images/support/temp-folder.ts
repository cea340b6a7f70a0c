import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Creates a temporary folder for one test file; `remove` deletes it with everything inside. */
export async function makeTempFolder(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), `slipway-${prefix}-`));
  return { path: folder, remove: () => rm(folder, { recursive: true, force: true }) };
}
