import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../support/free-port.ts';

const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

/** A service on the host that listens on every IPv4 address, as a careless host setup would have it. */
export interface HostService {
  name: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server on 0.0.0.0 with protected mode off, so only the firewall keeps containers out. */
export async function startOpenRedis(): Promise<HostService> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  await waitForPort(port, child, 'redis-server');
  return { name: 'Redis', port, stop: () => stopChild(child, 'SIGTERM') };
}

/** Starts a throwaway PostgreSQL 15 cluster that listens on all addresses and trusts everyone. */
export async function startOpenPostgres(): Promise<HostService> {
  const port = await freePort();
  const folder = mkdtempSync(path.join(tmpdir(), 'slipway-open-pg-'));
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(folder, uid, gid);
  const dataDir = path.join(folder, 'data');

  const init = spawnSync(`${POSTGRES_BIN}/initdb`, ['-D', dataDir, '-U', 'postgres', '--auth=trust'], { encoding: 'utf8', uid, gid });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const child = spawn(`${POSTGRES_BIN}/postgres`, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=*', '-k', folder, '-c', 'fsync=off'], {
    stdio: 'ignore',
    uid,
    gid,
  });
  await waitForPort(port, child, 'postgres');
  return {
    name: 'PostgreSQL',
    port,
    async stop() {
      await stopChild(child, 'SIGINT');
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not listen on port ${port} within 20 s`);
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}
