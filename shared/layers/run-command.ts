import { spawn } from 'node:child_process';
import { SystemError } from '../errors.ts';

export interface CommandResult {
  stdout: Buffer;
  stderr: string;
}

export interface RunCommandOptions {
  cwd?: string;
  /** Written to the child's standard input, which is closed afterwards. */
  input?: Buffer | string;
  /** Exit codes that count as success; getfattr exits 1 when some file had no match. */
  okExitCodes?: number[];
}

/**
 * Runs a host tool (mknod, setfattr, getfattr, tar, debootstrap) without a shell and
 * collects its output. A non-zero exit fails with COMMAND_FAILED carrying stderr.
 */
export function runCommand(command: string, args: string[], options: RunCommandOptions = {}): Promise<CommandResult> {
  const okExitCodes = options.okExitCodes ?? [0];

  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

    child.on('error', (error) => {
      reject(
        new SystemError('COMMAND_FAILED', `Starting ${command} failed: ${error.message}. Run infra/host-setup.sh to install it.`, {
          cause: error,
          details: { command },
        }),
      );
    });
    child.on('close', (code, signal) => {
      const errorText = Buffer.concat(stderr).toString('utf8').trim();
      if (code !== null && okExitCodes.includes(code)) {
        resolve({ stdout: Buffer.concat(stdout), stderr: errorText });
        return;
      }
      const status = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(
        new SystemError('COMMAND_FAILED', `${command} ${args.join(' ')} ${status}: ${errorText || 'no error output'}`, {
          details: { command, exitCode: code, signal },
        }),
      );
    });

    child.stdin.on('error', () => {
      // The child may exit before reading its input; the exit code reports the failure.
    });
    child.stdin.end(options.input ?? '');
  });
}
