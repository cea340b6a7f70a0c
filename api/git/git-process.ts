import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { SystemError } from '../../shared/errors.ts';

/**
 * The environment of every git process the server starts: no system or global config
 * (so a filter, hook path or `url.insteadOf` of the host's users never applies), an empty
 * home folder, and no terminal prompts. Settings the server needs are passed with `-c`.
 */
export function gitEnvironment(homeDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: homeDir,
    XDG_CONFIG_HOME: homeDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
    LC_ALL: 'C',
    ...extra,
  };
}

/** Creates and returns the empty home folder that server-side git processes get. */
export async function gitHomeFolder(dataDir: string): Promise<string> {
  const home = path.join(dataDir, 'git', 'home');
  await mkdir(home, { recursive: true, mode: 0o700 });
  return home;
}

/** Starts git with the server's environment; stdio as in `options`. */
export function spawnGit(homeDir: string, args: string[], options: SpawnOptions & { extraEnv?: Record<string, string> } = {}): ChildProcess {
  const { extraEnv, ...spawnOptions } = options;
  return spawn('git', args, { ...spawnOptions, env: gitEnvironment(homeDir, extraEnv) });
}

/**
 * Starts reading a child's output stream at once, through a pass-through that the caller
 * reads later. Node resumes an unread stdio stream when its process exits and drops what
 * it held, so a short-lived git whose output is read after an `await` would lose it.
 */
export function consumeNow(stream: Readable): Readable {
  return stream.pipe(new PassThrough());
}

/** Runs git to completion and returns its stdout; rejects with GIT_COMMAND_FAILED and git's stderr. */
export function runGit(homeDir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(homeDir, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error) => reject(gitFailed(args, null, error.message, error)));
    child.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(stdout).toString('utf8'));
      else reject(gitFailed(args, code, Buffer.concat(stderr).toString('utf8').trim()));
    });
  });
}

/**
 * Resolves with the exit code once a child process has exited and its output streams have
 * closed, or with null when it could not start. Call it right after spawning.
 */
export function waitForExit(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('close', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
}

function gitFailed(args: string[], code: number | null, stderr: string, cause?: unknown): SystemError {
  const status = code === null ? 'could not start' : `exited with code ${code}`;
  return new SystemError('GIT_COMMAND_FAILED', `git ${args.join(' ')} ${status}: ${stderr || 'no error output'}`, { cause, details: { exitCode: code } });
}
