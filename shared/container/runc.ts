import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { ContainerAbortedError, ContainerTimeoutError, RuncError } from './runc-errors.ts';
import { CommandFailedError, runCommand } from '../process/run-command.ts';

const log = createLogger('runc');

/** Destination of a foreground container's output as it arrives: a stream (left open) or a callback. */
export type OutputSink = Writable | ((chunk: Buffer) => void);

export interface ForegroundRunOptions {
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** Aborting kills and deletes the container; run() then rejects with CONTAINER_ABORTED. */
  signal?: AbortSignal;
  /** Past this many milliseconds the container is killed and deleted; run() rejects with CONTAINER_TIMEOUT. */
  timeoutMs?: number;
}

export interface DetachedRunOptions {
  /** Open file descriptors (such as append-mode log files) that become the container's stdout and stderr. */
  stdoutFd: number;
  stderrFd: number;
}

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** A container's state as `runc state` and `runc list` report it. */
export interface ContainerState {
  id: string;
  /** Host pid of the container's init process; 0 once stopped. */
  pid: number;
  status: ContainerStatus;
  bundle: string;
  created: string;
}

/** How long a stop keeps sending SIGKILL through runc before it kills the runc process itself. */
const STOP_GRACE_MS = 10_000;
/** runc's container id rule (`^[\w+-\.]+$`), checked here to fail with a clear message. */
const CONTAINER_ID_PATTERN = /^[A-Za-z0-9_+.-]+$/;

/**
 * The runc binary with a state folder (`--root`) of Slipway's own, so its containers are
 * apart from any other runc user on the host. runc's log (`--log`, JSON) goes to runc.log in
 * the bundle folder, which keeps runc's own errors apart from the container's output.
 */
export class Runc {
  readonly stateDir: string;
  readonly binary: string;

  constructor(options: { stateDir: string; binary?: string }) {
    this.stateDir = options.stateDir;
    this.binary = options.binary ?? 'runc';
  }

  /**
   * Runs a container in the foreground and resolves with its exit code (128 + signal number
   * when a signal ended it). Output streams to the sinks as it arrives. On timeout or abort
   * the container is killed and deleted before the promise rejects, and in every case no
   * runc container with this id is left when it settles.
   */
  async run(id: string, bundleDir: string, options: ForegroundRunOptions = {}): Promise<number> {
    validateId(id);
    const logPath = await this.freshLogPath(bundleDir);
    // Checked after the last await before spawning, so the listener added below gets every later abort.
    if (options.signal?.aborted) throw new ContainerAbortedError(id, options.signal.reason);

    const child = spawn(this.binary, [...this.globalArgs(logPath), 'run', '--bundle', bundleDir, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    forwardOutput(child.stdout, options.stdout);
    forwardOutput(child.stderr, options.stderr);
    const exited = waitForExit(child, id);
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

    let stopReason: 'timeout' | 'abort' | undefined;
    let stopping: Promise<void> = Promise.resolve();
    const stop = (reason: 'timeout' | 'abort') => {
      if (stopReason) return;
      stopReason = reason;
      log.info({ containerId: id, reason }, 'container stopping');
      stopping = this.stopForeground(id, child, exited);
    };
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), options.timeoutMs);
    const onAbort = () => stop('abort');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const { code } = await exited;
      await Promise.race([closed, delay(STOP_GRACE_MS, undefined, { ref: false })]);
      if (stopReason === 'timeout') throw new ContainerTimeoutError(id, options.timeoutMs ?? 0);
      if (stopReason === 'abort') throw new ContainerAbortedError(id, options.signal?.reason);

      const runcErrors = await readRuncErrors(logPath);
      if (runcErrors) throw new RuncError(id, 'run', runcErrors);
      if (code === null) throw new RuncError(id, 'run', 'the runc process was killed by a signal');
      return code;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      await stopping;
      await this.deleteQuietly(id);
    }
  }

  /**
   * Starts a container with `runc run --detach` and resolves with its init pid. The
   * container's stdout and stderr are the given descriptors, and runc runs in a session of
   * its own, so the container keeps running and logging when this process exits.
   */
  async runDetached(id: string, bundleDir: string, options: DetachedRunOptions): Promise<number> {
    validateId(id);
    const logPath = await this.freshLogPath(bundleDir);
    const pidFile = path.join(bundleDir, 'container.pid');
    await rm(pidFile, { force: true });

    const child = spawn(this.binary, [...this.globalArgs(logPath), 'run', '--detach', '--pid-file', pidFile, '--bundle', bundleDir, id], {
      stdio: ['ignore', options.stdoutFd, options.stderrFd],
      detached: true,
    });
    const { code, signal } = await waitForExit(child, id);
    if (code !== 0) {
      const runcErrors = await readRuncErrors(logPath);
      await this.deleteQuietly(id);
      throw new RuncError(id, 'run --detach', runcErrors || `runc exited with ${signal ?? `code ${code}`}`);
    }

    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    log.info({ containerId: id, pid }, 'container started');
    return pid;
  }

  /**
   * Starts a container under a supervising shell that outlives this process: the shell
   * runs `runc run` in the foreground, so runc stays the container's parent, collects its
   * exit status and the shell writes it to `exitCodeFile` (128 + signal number when a
   * signal ended it). This is what a container shim does; it gives the runner exit codes
   * that `runc run --detach` loses. Resolves with the shell's pid once it is spawned; the
   * caller polls `state()` for the container and `exitCodeFile` for the end.
   */
  async runSupervised(id: string, bundleDir: string, options: DetachedRunOptions & { exitCodeFile: string }): Promise<number> {
    validateId(id);
    const logPath = await this.freshLogPath(bundleDir);
    await rm(options.exitCodeFile, { force: true });

    const script = 'code=0; "$0" "$@" || code=$?; echo "$code" > "$SLIPWAY_EXIT_CODE_FILE"';
    const child = spawn('/bin/sh', ['-c', script, this.binary, ...this.globalArgs(logPath), 'run', '--bundle', bundleDir, id], {
      stdio: ['ignore', options.stdoutFd, options.stderrFd],
      detached: true,
      env: { ...process.env, SLIPWAY_EXIT_CODE_FILE: options.exitCodeFile },
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (error) => reject(new RuncError(id, 'run (supervised)', error.message)));
    });
    child.unref();
    log.info({ containerId: id, shimPid: pid }, 'container shim started');
    return pid;
  }

  /** Reads runc's own errors of the last run in a bundle, for a container that failed to start. */
  async lastErrors(bundleDir: string): Promise<string> {
    return readRuncErrors(path.join(bundleDir, 'runc.log'));
  }

  /** Returns the container's state, or null when runc has no container with this id. */
  async state(id: string): Promise<ContainerState | null> {
    validateId(id);
    try {
      const { stdout } = await this.runRunc(['state', id], id, 'state');
      return toContainerState(JSON.parse(stdout));
    } catch (error) {
      if (error instanceof RuncError && error.runcOutput.includes('does not exist')) return null;
      throw error;
    }
  }

  async list(): Promise<ContainerState[]> {
    const { stdout } = await this.runRunc(['list', '--format', 'json'], '(all)', 'list');
    const entries = JSON.parse(stdout) as unknown[] | null;
    return (entries ?? []).map(toContainerState);
  }

  /** Sends a signal (name such as SIGTERM, or number) to the container's init process. */
  async kill(id: string, signal: string | number = 'SIGTERM'): Promise<void> {
    validateId(id);
    await this.runRunc(['kill', id, String(signal)], id, `kill ${signal}`);
  }

  /**
   * Deletes the container and its cgroup. With `force`, a running container is killed first
   * and a missing one is no error.
   */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    validateId(id);
    await this.runRunc(['delete', ...(options.force ? ['--force'] : []), id], id, 'delete');
  }

  /**
   * Kills a foreground container through runc until its runc process exits. It repeats
   * because a stop can arrive while runc is still creating the container, when `runc kill`
   * finds nothing yet. The runc process itself is killed only after STOP_GRACE_MS.
   */
  private async stopForeground(id: string, child: ChildProcess, exited: Promise<unknown>): Promise<void> {
    let done = false;
    const markDone = () => {
      done = true;
    };
    exited.then(markDone, markDone);

    const deadline = Date.now() + STOP_GRACE_MS;
    while (!done && Date.now() < deadline) {
      await this.kill(id, 'SIGKILL').catch(() => undefined);
      await Promise.race([exited.catch(() => undefined), delay(100, undefined, { ref: false })]);
    }
    if (!done) {
      log.warn({ containerId: id }, 'runc did not exit after kill');
      child.kill('SIGKILL');
    }
  }

  /** Runs `delete --force` and logs a failure instead of throwing, on paths that already report an outcome. */
  private async deleteQuietly(id: string): Promise<void> {
    try {
      await this.delete(id, { force: true });
    } catch (error) {
      log.error({ containerId: id, err: error }, 'container delete failed');
    }
  }

  private globalArgs(logPath: string): string[] {
    return ['--root', this.stateDir, '--log', logPath, '--log-format', 'json'];
  }

  private async freshLogPath(bundleDir: string): Promise<string> {
    const logPath = path.join(bundleDir, 'runc.log');
    await rm(logPath, { force: true });
    return logPath;
  }

  private async runRunc(args: string[], id: string, operation: string): Promise<{ stdout: string }> {
    try {
      return await runCommand(this.binary, ['--root', this.stateDir, ...args]);
    } catch (error) {
      if (error instanceof CommandFailedError) throw new RuncError(id, operation, runcMessages(error.stderr), error);
      throw error;
    }
  }
}

function validateId(id: string): void {
  if (CONTAINER_ID_PATTERN.test(id) && id.length <= 255) return;
  throw new ValidationError(
    'CONTAINER_ID_INVALID',
    `Container id ${JSON.stringify(id)} is invalid: use 1 to 255 letters, digits, '_', '+', '-' or '.'.`,
  );
}

function forwardOutput(source: NodeJS.ReadableStream, sink: OutputSink | undefined): void {
  if (sink === undefined) source.resume();
  else if (typeof sink === 'function') source.on('data', sink);
  else source.pipe(sink, { end: false });
}

function waitForExit(child: ChildProcess, id: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    child.once('error', (error) => reject(new RuncError(id, 'start', `${child.spawnfile}: ${error.message}`, error)));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Joins the error and fatal messages of a runc JSON log. Returns an empty string when runc logged none. */
async function readRuncErrors(logPath: string): Promise<string> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && entry.msg) messages.push(entry.msg);
    } catch {
      messages.push(line.trim());
    }
  }
  return messages.join('; ');
}

/** Pulls the `msg="..."` parts out of runc's text log lines; other output is kept as printed. */
function runcMessages(stderr: string): string {
  const messages = [...stderr.matchAll(/msg="((?:[^"\\]|\\.)*)"/g)].map((match) => match[1] ?? '');
  return messages.length > 0 ? messages.join('; ') : stderr;
}

function toContainerState(raw: unknown): ContainerState {
  const entry = raw as Record<string, unknown>;
  return {
    id: String(entry.id),
    pid: Number(entry.pid ?? 0),
    status: entry.status as ContainerStatus,
    bundle: String(entry.bundle),
    created: String(entry.created),
  };
}
