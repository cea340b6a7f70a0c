import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { SystemError } from '../errors.ts';
import { createLogger } from '../logger.ts';

const log = createLogger('embedded-redis');

export interface EmbeddedRedis {
  /** The unix socket clients connect to. */
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server as a child process listening only on a unix socket in `folder`,
 * with the settings BullMQ needs: AOF persistence so queued jobs survive a restart, and
 * `noeviction` so Redis never drops a job key to free memory. `stop` shuts it down
 * cleanly; a handler on this process's exit kills it if we exit first.
 */
export async function startEmbeddedRedis(folder: string): Promise<EmbeddedRedis> {
  await mkdir(folder, { recursive: true });
  const socketPath = path.join(folder, 'redis.sock');
  const configPath = path.join(folder, 'redis.conf');
  const pidPath = path.join(folder, 'redis.pid');
  await stopOrphan(pidPath);
  await rm(socketPath, { force: true });
  await writeFile(
    configPath,
    [
      'port 0',
      `unixsocket ${socketPath}`,
      'unixsocketperm 700',
      `dir ${folder}`,
      `pidfile ${pidPath}`,
      'appendonly yes',
      'appendfsync everysec',
      'maxmemory-policy noeviction',
      'save ""',
      'daemonize no',
      'loglevel warning',
      '',
    ].join('\n'),
  );

  // A process group of its own keeps the terminal's Ctrl-C from reaching Redis directly:
  // the roles still need it while they shut down, and `stop` ends it last.
  const child = spawn('redis-server', [configPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  try {
    await waitUntilReady(child, socketPath, output);
  } catch (error) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw error;
  }
  log.info({ socketPath, redisPid: child.pid }, 'redis started');

  return {
    socketPath,
    async stop() {
      process.off('exit', killOnExit);
      await stopChild(child);
      log.info({ socketPath }, 'redis stopped');
    },
  };
}

async function waitUntilReady(child: ChildProcess, socketPath: string, output: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));

  while (Date.now() < deadline) {
    if (spawnError) {
      throw new SystemError(
        'REDIS_START_FAILED',
        `Starting redis-server failed: ${spawnError.message}. Install it with: apt-get install redis-server`,
        { cause: spawnError },
      );
    }
    if (child.exitCode !== null) {
      throw new SystemError('REDIS_START_FAILED', `redis-server exited with code ${child.exitCode}: ${output.join('').trim()}`);
    }

    const client = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // Not listening yet.
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new SystemError('REDIS_START_FAILED', `redis-server did not answer on ${socketPath} within 10 s.`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Stops a redis-server that a previous Slipway process left running on this folder (it
 * runs in a process group of its own, so a killed parent leaves it behind). Two servers
 * must never append to the same AOF files.
 */
async function stopOrphan(pidPath: string): Promise<void> {
  const pid = Number((await readFile(pidPath, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;

  const command = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (!command.startsWith('redis-server')) return;

  log.warn({ redisPid: pid }, 'stopping a redis-server left by a previous run');
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => null)) !== null) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
