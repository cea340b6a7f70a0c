import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Runc } from '../../shared/container/runc.ts';
import { SystemError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';

export interface ShimLaunch {
  containerId: string;
  bundleDir: string;
  /** Files the container's stdout and stderr are appended to. */
  stdoutFile: string;
  stderrFile: string;
  /** Where the shim writes the exit code (128 + signal number when a signal ended the process). */
  exitCodeFile: string;
}

/** How long a launch waits for the launcher shell to confirm it, in ms. */
const LAUNCH_TIMEOUT_MS = 10_000;

/**
 * Starts container shims from a small shell that the runner keeps as a child process. A
 * shim is what Runc.runSupervised starts: `sh` running `runc run` in the foreground and
 * writing the exit code to a file. Spawning it straight from the runner costs a fork of
 * the whole Node process, 30 to 50 ms with an embedded database in memory (measured with
 * bench/start.ts). That was most of what a start on demand added to runc's own time. The
 * launcher shell forks in about a millisecond. Each shim runs in a session of its own and is orphaned at once (the
 * subshell that starts it exits), so it outlives the runner and init reaps it.
 */
export class ShimLauncher {
  private shell: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting = new Map<string, () => void>();
  private sequence = 0;

  constructor(
    private readonly runc: Pick<Runc, 'binary' | 'stateDir'>,
    private readonly log: Logger,
  ) {}

  /** Starts the launcher shell now, so that the first container start does not pay for forking the runner. */
  start(): void {
    this.ensureShell();
  }

  /** Starts the container's shim and resolves once the launcher has forked it. */
  async launch(launch: ShimLaunch): Promise<void> {
    const runcLog = path.join(launch.bundleDir, 'runc.log');
    await Promise.all([rm(runcLog, { force: true }), rm(launch.exitCodeFile, { force: true })]);

    const token = `launched-${process.pid}-${(this.sequence += 1)}`;
    const runcArgs = [this.runc.binary, '--root', this.runc.stateDir, '--log', runcLog, '--log-format', 'json', 'run', '--bundle', launch.bundleDir, launch.containerId];
    const shim = 'code=0; "$0" "$@" || code=$?; echo "$code" > "$SLIPWAY_EXIT_CODE_FILE"';
    const line =
      `( SLIPWAY_EXIT_CODE_FILE=${quote(launch.exitCodeFile)} setsid sh -c ${quote(shim)} ${runcArgs.map(quote).join(' ')}` +
      ` </dev/null >>${quote(launch.stdoutFile)} 2>>${quote(launch.stderrFile)} & ); echo ${token}\n`;

    const confirmed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new SystemError('SHIM_LAUNCH_FAILED', `The shim launcher did not start container ${launch.containerId} within ${LAUNCH_TIMEOUT_MS} ms.`));
      }, LAUNCH_TIMEOUT_MS);
      this.waiting.set(token, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.ensureShell().stdin.write(line);
    await confirmed;
    this.log.debug({ containerId: launch.containerId }, 'container shim launched');
  }

  /** Ends the launcher shell; shims it started keep running. */
  close(): void {
    this.shell?.stdin.end();
    this.shell = undefined;
  }

  private ensureShell(): ChildProcessWithoutNullStreams {
    if (this.shell && this.shell.exitCode === null && !this.shell.killed) return this.shell;

    const shell = spawn('/bin/sh', ['-s'], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: shell.stdout }).on('line', (line) => {
      this.waiting.get(line)?.();
      this.waiting.delete(line);
    });
    createInterface({ input: shell.stderr }).on('line', (line) => this.log.warn({ output: line }, 'shim launcher wrote an error'));
    shell.once('exit', (code) => {
      if (this.shell === shell) this.shell = undefined;
      if (code !== 0 && code !== null) this.log.warn({ exitCode: code }, 'shim launcher exited');
    });
    this.shell = shell;
    return shell;
  }
}

/** Quotes a word for sh: inside single quotes only the single quote itself needs care. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
