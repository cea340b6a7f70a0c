import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Runc } from '../../shared/container/runc.ts';
import type { HealthProbe } from './health-check.ts';

/** Target of a probe: the container's address and port, and its runc id and bundle for `exec`. */
export interface ProbeTarget {
  host: string;
  port: number;
  containerId: string;
  bundleDir: string;
  runc: Pick<Runc, 'binary' | 'stateDir'>;
}

export interface ProbeResult {
  healthy: boolean;
  /** Result text for the release error and the app log: a status, an error or the command's output. */
  output: string;
}

/** Output kept of an exec probe, as Docker keeps 4 KiB of a health check's output. */
const MAX_PROBE_OUTPUT_BYTES = 4096;

export function runProbe(probe: HealthProbe, target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  switch (probe.kind) {
    case 'http':
      return probeHttp(target, probe.path, timeoutMs);
    case 'tcp':
      return probeTcp(target, timeoutMs);
    case 'exec':
      return probeExec(target, probe.command, timeoutMs);
  }
}

function probeHttp(target: ProbeTarget, urlPath: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const request = http.get({ host: target.host, port: target.port, path: urlPath, agent: false, headers: { 'user-agent': 'slipway-health-check' } }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve({ healthy: status >= 200 && status < 400, output: `GET ${urlPath} answered ${status}` });
    });
    request.setTimeout(timeoutMs, () => request.destroy(new Error(`timed out after ${timeoutMs} ms without a response`)));
    request.once('error', (error) => resolve({ healthy: false, output: `GET ${urlPath} failed: ${error.message}` }));
  });
}

/** Resolves true once host:port accepts a TCP connection, false on refusal, error or timeout. */
export function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (connected: boolean) => {
      socket.destroy();
      resolve(connected);
    };
    socket.setTimeout(Math.max(timeoutMs, 1), () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

async function probeTcp(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  const connected = await canConnect(target.host, target.port, timeoutMs);
  return { healthy: connected, output: connected ? `port ${target.port} accepted a connection` : `port ${target.port} did not accept a connection` };
}

/**
 * Runs the command in the container with `runc exec`, as the container's own user, in its
 * working folder and with its environment (runc takes them from the bundle's config.json).
 * On timeout the command's process is killed by the pid that runc wrote, so no probe
 * outlives its deadline.
 */
async function probeExec(target: ProbeTarget, command: string[], timeoutMs: number): Promise<ProbeResult> {
  const pidFile = path.join(target.bundleDir, `health-${process.pid}-${Date.now()}.pid`);
  const args = ['--root', target.runc.stateDir, 'exec', '--pid-file', pidFile, target.containerId, ...command];
  const child = spawn(target.runc.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < MAX_PROBE_OUTPUT_BYTES) output += chunk.toString('utf8').slice(0, MAX_PROBE_OUTPUT_BYTES - output.length);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void killByPidFile(pidFile).finally(() => child.kill('SIGKILL'));
  }, timeoutMs);
  try {
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', (error) => {
        output += error.message;
        resolve(null);
      });
      child.once('close', (exitCode) => resolve(exitCode));
    });
    if (timedOut) return { healthy: false, output: `${command.join(' ')} timed out after ${timeoutMs} ms` };
    return { healthy: code === 0, output: output.trim() || `${command.join(' ')} exited with code ${code}` };
  } finally {
    clearTimeout(timer);
    await rm(pidFile, { force: true });
  }
}

async function killByPidFile(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // The command ended between the timeout and the kill.
  }
}
