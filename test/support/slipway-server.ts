import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../shared/config.ts';
import { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import { removeAllMachines } from '../../runner/machines/host-cleanup.ts';
import { freePort } from './free-port.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SlipwayServer {
  dataDir: string;
  apiPort: number;
  httpPort: number;
  env: Record<string, string>;
  token: string;
  /** Runs `slipway ARGS` against this server. */
  cli(args: string[], options?: { cwd?: string }): Promise<CliResult>;
  /** Sends a GET through the ingress with `Host: <app>.localhost`. */
  get(app: string, urlPath?: string): Promise<{ status: number; body: string }>;
  api(method: string, urlPath: string, json?: unknown): Promise<Response>;
  output(): string;
  stop(): Promise<void>;
}

const BIN = path.join(PROJECT_ROOT, 'bin', 'slipway.mjs');

/**
 * Starts `slipway server` as a user would, as a child process with the embedded defaults
 * (PGlite, blob files, a redis-server child) in a temporary data folder, on free loopback
 * ports and a bridge of its own. The debootstrap cache is shared through .cache/ so that
 * base images take seconds after the first run.
 */
export async function startSlipwayServer(name: string, extraEnv: Record<string, string> = {}): Promise<SlipwayServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `slipway-e2e-${name}-`));
  const apiPort = await freePort();
  const httpPort = await freePort();
  const suffix = randomBytes(2).toString('hex');
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_CACHE_DIR: path.join(PROJECT_ROOT, '.cache'),
    SLIPWAY_API_PORT: String(apiPort),
    SLIPWAY_HTTP_PORT: String(httpPort),
    SLIPWAY_BIND_ADDRESS: '127.0.0.1',
    SLIPWAY_BRIDGE_NAME: `swe${suffix}`,
    SLIPWAY_BRIDGE_SUBNET: `10.211.${Number.parseInt(suffix, 16) % 250}.0/24`,
    SLIPWAY_RUNNER_ID: `e2e-${name}`,
    SLIPWAY_LOG_LEVEL: 'info',
    // The CLI reads a stored login from here; a login of the person running the tests must not redirect it.
    XDG_CONFIG_HOME: path.join(dataDir, 'cli-config'),
    ...extraEnv,
  };
  delete env.VITEST;
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.S3_BUCKET;

  const chunks: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [BIN, 'server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  await waitForHealth(apiPort, child, chunks);
  const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();

  const server: SlipwayServer = {
    dataDir,
    apiPort,
    httpPort,
    env,
    token,
    cli: (args, options = {}) => runCli(args, env, options.cwd),
    get: (app, urlPath = '/') => ingressGet(httpPort, `${app}.localhost`, urlPath),
    api: (method, urlPath, json) =>
      fetch(`http://127.0.0.1:${apiPort}${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
        body: json === undefined ? undefined : JSON.stringify(json),
      }),
    output: () => chunks.join(''),
    async stop() {
      // A child that a signal ended has no exit code but a signal code, and no exit event to come.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      // The runner leaves its containers running when it stops, for the next runner to adopt.
      await removeAllMachines(dataDir);
      await new BridgeNetwork({ bridgeName: env.SLIPWAY_BRIDGE_NAME!, subnet: env.SLIPWAY_BRIDGE_SUBNET!, stateDir: path.join(dataDir, 'network') }).teardown();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

export function runCli(args: string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, cwd: cwd ?? PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
  });
}

/** A GET through the ingress with a chosen Host header; fetch cannot set Host. */
export function ingressGet(port: number, host: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.setTimeout(30_000, () => request.destroy(new Error(`GET ${host}${urlPath} timed out`)));
    request.on('error', reject);
  });
}

async function waitForHealth(port: number, child: ChildProcess, chunks: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`slipway server exited with code ${child.exitCode}:\n${chunks.join('')}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`slipway server did not become healthy within 60 s:\n${chunks.join('')}`);
}
