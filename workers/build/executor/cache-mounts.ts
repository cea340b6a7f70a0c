import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger } from '../../../shared/logger.ts';
import { buildCancelled } from '../build-errors.ts';

const log = createLogger('build-cache-mounts');

/** How often a step waiting for a `sharing=locked` cache checks the lock again. */
const LOCK_POLL_MS = 200;
/** Instances a `sharing=private` cache may have before a step waits for one. */
const MAX_PRIVATE_INSTANCES = 16;

export interface CacheMountRequest {
  /** Folder that holds the caches of every scope, on the worker's disk. */
  rootDir: string;
  /** The owner of the caches, normally the app id; caches of other scopes are never shared. */
  scope: string;
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  /** Mode and owner the folder gets when it is created. */
  mode: number;
  uid: number;
  gid: number;
  signal: AbortSignal;
  buildId: string;
}

export interface CacheMount {
  hostPath: string;
  /** Whether the folder was created for this step, so a `from=` seed still has to fill it. */
  created: boolean;
  /** Releases the lock of a `locked` or `private` cache; safe to call twice. */
  release(): Promise<void>;
}

// TODO: nothing removes cache folders yet, so they grow until someone deletes
// `<data folder>/build-cache-mounts`. BuildKit prunes them with its cache garbage collector.
/**
 * Opens the folder of a `RUN --mount=type=cache` on this worker, as the Dockerfile
 * reference describes the sharing modes: `shared` lets every step use the folder at
 * once, `locked` makes a second step wait until the first releases it, and `private`
 * gives a second step a folder of its own. Locks are lock folders beside the cache that
 * record the holding process, so two worker processes on one host respect them and a
 * crashed holder's lock is taken over.
 */
export async function openCacheMount(request: CacheMountRequest): Promise<CacheMount> {
  const base = path.join(request.rootDir, shortHash(request.scope), shortHash(request.id));
  if (request.sharing === 'shared') return { ...(await ensureFolder(base, request)), release: async () => {} };

  for (let attempt = 0; ; attempt += 1) {
    const instances = request.sharing === 'locked' ? [base] : privateInstances(base);
    for (const folder of instances) {
      const lock = await tryLock(folder);
      if (!lock) continue;
      try {
        return { ...(await ensureFolder(folder, request)), release: lock };
      } catch (error) {
        await lock();
        throw error;
      }
    }
    if (attempt === 0) log.info({ buildId: request.buildId, sharing: request.sharing }, 'cache mount busy, waiting');
    if (request.signal.aborted) throw buildCancelled(request.buildId, request.signal.reason);
    await delay(LOCK_POLL_MS, undefined, { signal: request.signal }).catch(() => undefined);
  }
}

function privateInstances(base: string): string[] {
  return Array.from({ length: MAX_PRIVATE_INSTANCES }, (_unused, index) => (index === 0 ? base : `${base}-${index}`));
}

async function ensureFolder(folder: string, request: CacheMountRequest): Promise<{ hostPath: string; created: boolean }> {
  await mkdir(path.dirname(folder), { recursive: true, mode: 0o700 });
  try {
    await mkdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { hostPath: folder, created: false };
    throw error;
  }
  await chown(folder, request.uid, request.gid);
  await chmod(folder, request.mode);
  return { hostPath: folder, created: true };
}

/**
 * Takes the lock of a cache folder without waiting: a `<folder>.lock` folder made with
 * mkdir, which either succeeds or finds the lock held. A lock whose holder on this host
 * no longer runs is removed and taken. Returns the release function, or undefined.
 */
async function tryLock(folder: string): Promise<(() => Promise<void>) | undefined> {
  const lockDir = `${folder}.lock`;
  await mkdir(path.dirname(lockDir), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await mkdir(lockDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await holderIsAlive(lockDir)) return undefined;
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    await writeFile(path.join(lockDir, 'holder'), `${hostname()} ${process.pid}\n`);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await rm(lockDir, { recursive: true, force: true });
    };
  }
  return undefined;
}

/** A lock without a readable holder counts as alive, because its holder may be writing the file right now. */
async function holderIsAlive(lockDir: string): Promise<boolean> {
  const text = await readFile(path.join(lockDir, 'holder'), 'utf8').catch(() => undefined);
  const [host, pidText] = text?.trim().split(' ') ?? [];
  if (host === undefined || pidText === undefined) return true;
  if (host !== hostname()) return true;
  try {
    process.kill(Number(pidText), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function shortHash(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 32);
}
