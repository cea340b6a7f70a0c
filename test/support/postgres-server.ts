import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';

const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  /** A URL for the `postgres` database; tests create databases of their own in it. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL 15 cluster on 127.0.0.1 in a temporary folder. initdb
 * refuses to run as root, so the cluster belongs to Debian's `postgres` user.
 */
export async function startPostgresServer(port: number): Promise<PostgresServer> {
  const folder = mkdtempSync(path.join(tmpdir(), 'slipway-pg-'));
  const dataDir = path.join(folder, 'data');
  const { uid, gid } = postgresUser();
  chownSync(folder, uid, gid);

  const init = spawnSync(`${POSTGRES_BIN}/initdb`, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
    encoding: 'utf8',
    uid,
    gid,
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);

  // Started directly as the postgres user, so that our signals reach postgres itself.
  const server: ChildProcess = spawn(
    `${POSTGRES_BIN}/postgres`,
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', folder, '-c', 'fsync=off'],
    { stdio: 'ignore', uid, gid },
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitForPostgres(url, server);

  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      // SIGINT is PostgreSQL's fast shutdown: it ends sessions and exits without waiting for clients.
      server.kill('SIGINT');
      await exited;
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Creates an empty database for one test file and returns its URL. */
export async function createTestDatabase(serverUrl: string, name: string): Promise<string> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`drop database if exists "${name}"`);
    await sql.unsafe(`create database "${name}"`);
  } finally {
    await sql.end();
  }
  return serverUrl.replace(/\/postgres$/, `/${name}`);
}

function postgresUser(): { uid: number; gid: number } {
  const result = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const groups = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error('The postgres user does not exist: install Debian\'s postgresql package (sh infra/host-setup.sh --test).');
  return { uid: Number(result.stdout.trim()), gid: Number(groups.stdout.trim()) };
}

async function waitForPostgres(url: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`postgres exited with code ${server.exitCode}`);
    const sql = postgres(url, { max: 1, connect_timeout: 1, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
  throw new Error('postgres did not accept connections within 20 s');
}
