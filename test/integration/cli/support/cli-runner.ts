import { spawn } from 'node:child_process';
import { PROJECT_ROOT } from '../../../../shared/config.ts';
import type { CliResult } from '../../../support/slipway-server.ts';

const BIN = `${PROJECT_ROOT}/bin/slipway.mjs`;

export interface RunOptions {
  env: Record<string, string | undefined>;
  cwd?: string;
  /** Written to the CLI's stdin, which is then closed. */
  input?: string;
}

/** Runs `slipway ARGS` as a user does, with stdout and stderr as pipes (no terminal). */
export function runSlipway(args: string[], options: RunOptions): Promise<CliResult> {
  return collect(spawn(process.execPath, [BIN, ...args], { env: definedOnly(options.env), cwd: options.cwd ?? PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] }), options.input);
}

/**
 * Runs `slipway ARGS` on a pseudo-terminal with util-linux `script`, so the CLI draws
 * its live progress as it does for a person. stdout and stderr both arrive in `stdout`,
 * with the terminal's CRLF line ends; `columns` sets the terminal width.
 */
export function runSlipwayOnTerminal(args: string[], options: RunOptions & { columns?: number }): Promise<CliResult> {
  const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  const env = { ...definedOnly(options.env), COLUMNS: String(options.columns ?? 100), TERM: 'xterm-256color' };
  const child = spawn('script', ['--quiet', '--return', '--command', `stty cols ${options.columns ?? 100}; exec ${command}`, '/dev/null'], {
    env,
    cwd: options.cwd ?? PROJECT_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return collect(child, options.input);
}

function collect(child: ReturnType<typeof spawn>, input: string | undefined): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
    child.stdin!.end(input ?? '');
  });
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
