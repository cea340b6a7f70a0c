import { spawn } from 'node:child_process';
import { SystemError } from '../errors.ts';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunCommandOptions {
  cwd?: string;
  /** Written to standard input, which is then closed. */
  input?: Buffer | string;
  /** Exit codes that count as success; getfattr exits 1 when some file had no match. */
  okExitCodes?: number[];
}

/** A host tool that exited non-zero or could not start. `stderr` contains what it printed. */
export class CommandFailedError extends SystemError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(command: string, args: readonly string[], exitCode: number | null, stderr: string, cause?: unknown) {
    const status = exitCode === null ? 'could not start or was killed' : `exited with code ${exitCode}`;
    super('COMMAND_FAILED', `${command} ${args.join(' ')} ${status}: ${stderr || 'no error output'}`, {
      cause,
      details: { command, args, exitCode },
    });
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Runs a host tool (ip, iptables, mount, tar, getfattr, debootstrap) without a shell and
 * collects its output. Rejects with CommandFailedError on any other exit code, carrying the
 * trimmed stderr.
 */
export function runCommand(command: string, args: readonly string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    child.on('error', (error) => {
      reject(new CommandFailedError(command, args, null, error.message, error));
    });
    child.on('close', (code) => {
      const errorText = Buffer.concat(stderr).toString('utf8').trim();
      if (code !== null && (options.okExitCodes ?? [0]).includes(code)) {
        resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: errorText });
      } else {
        reject(new CommandFailedError(command, args, code, errorText));
      }
    });

    // The child may exit before it reads its input; the exit code then reports the failure.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}
