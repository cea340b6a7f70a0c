import { open } from 'node:fs/promises';

/**
 * Creates `filePath` holding `record` as one JSON line, only if no file of that name
 * exists yet. Returns false when another process claimed the name first. The exclusive
 * create is what makes address leases and network blocks safe across processes.
 */
export async function claimFile(filePath: string, record: unknown): Promise<boolean> {
  const handle = await open(filePath, 'wx').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return undefined;
    throw error;
  });
  if (!handle) return false;
  try {
    await handle.writeFile(`${JSON.stringify(record)}\n`);
  } finally {
    await handle.close();
  }
  return true;
}
