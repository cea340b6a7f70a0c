import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HOOK_SCRIPT = fileURLToPath(new URL('./update-hook.mjs', import.meta.url));

const written = new Map<string, Promise<string>>();

/**
 * Returns the hooks folder that receive-pack gets as `core.hooksPath`, writing it once per
 * process: an `update` hook that runs update-hook.mjs with this process's Node. Repositories
 * keep no hooks of their own, and a pusher cannot add one: a push carries objects and refs,
 * never files of the repository folder.
 */
export function ensureHooksFolder(dataDir: string): Promise<string> {
  let folder = written.get(dataDir);
  if (!folder) {
    folder = writeHooks(path.join(dataDir, 'git', 'hooks'));
    written.set(dataDir, folder);
    folder.catch(() => written.delete(dataDir));
  }
  return folder;
}

async function writeHooks(folder: string): Promise<string> {
  await mkdir(folder, { recursive: true, mode: 0o755 });
  const hook = path.join(folder, 'update');
  await writeFile(hook, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(HOOK_SCRIPT)} "$@"\n`);
  await chmod(hook, 0o755);
  return folder;
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
