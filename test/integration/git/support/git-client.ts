import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A git client as a user has it, in a temporary home folder of its own. It reads no
 * global config of the machine it runs on, has no credential helper and never prompts,
 * and it commits with a fixed author.
 */
export class GitClient {
  private constructor(readonly home: string) {}

  static async create(): Promise<GitClient> {
    return new GitClient(await mkdtemp(path.join(tmpdir(), 'slipway-git-client-')));
  }

  get env(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, '.config'),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      GIT_AUTHOR_NAME: 'Slipway Test',
      GIT_AUTHOR_EMAIL: 'test@slipway.invalid',
      GIT_COMMITTER_NAME: 'Slipway Test',
      GIT_COMMITTER_EMAIL: 'test@slipway.invalid',
      LANG: 'C',
    };
  }

  /** Runs git to its end. */
  run(cwd: string, args: string[], extraEnv: Record<string, string> = {}): Promise<GitResult> {
    return this.start(cwd, args, extraEnv).done;
  }

  /** Runs git and throws with its output unless it exits 0; returns stdout. */
  async ok(cwd: string, args: string[]): Promise<string> {
    const result = await this.run(cwd, args);
    if (result.code !== 0) throw new Error(`git ${args.join(' ')} exited with ${result.code}:\n${result.stderr}`);
    return result.stdout.trim();
  }

  /** Starts git; `waitForOutput` resolves once its stderr (where `remote:` lines go) contains a text. */
  start(cwd: string, args: string[], extraEnv: Record<string, string> = {}): RunningGit {
    const child = spawn('git', args, { cwd, env: { ...this.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const waiters: { text: string; resolve(): void }[] = [];
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const waiter of waiters.filter((candidate) => stderr.includes(candidate.text))) waiter.resolve();
    });
    const done = new Promise<GitResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    return {
      done,
      kill: () => void child.kill('SIGKILL'),
      waitForOutput: (text) =>
        new Promise<void>((resolve, reject) => {
          if (stderr.includes(text)) return resolve();
          waiters.push({ text, resolve });
          void done.then(() => (stderr.includes(text) ? resolve() : reject(new Error(`git ended without printing ${JSON.stringify(text)}:\n${stderr}`))));
        }),
    };
  }

  /** Makes a new repository with `main` checked out. */
  async init(dir: string): Promise<string> {
    await mkdir(dir, { recursive: true });
    await this.ok(dir, ['init', '--quiet', '--initial-branch=main']);
    return dir;
  }

  /** Writes files (path relative to the repository → content) and commits everything; returns the commit id. */
  async commit(dir: string, files: Record<string, string | Buffer>, message = 'change'): Promise<string> {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), content);
    }
    await this.ok(dir, ['add', '--all']);
    await this.ok(dir, ['commit', '--quiet', '--allow-empty', '-m', message]);
    return this.ok(dir, ['rev-parse', 'HEAD']);
  }

  async remove(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

export interface RunningGit {
  done: Promise<GitResult>;
  /** Ends git at once, as a pusher pressing Ctrl-C twice would. */
  kill(): void;
  waitForOutput(text: string): Promise<void>;
}

/** Returns the URL of an app's repository with the token as password, as a user could paste it. */
export function repositoryUrl(apiPort: number, app: string, token: string): string {
  return `http://slipway:${token}@127.0.0.1:${apiPort}/git/${app}.git`;
}

/** Returns the object id a remote branch points at, or null when the remote has no such branch. */
export async function remoteBranch(git: GitClient, cwd: string, url: string, branch: string): Promise<string | null> {
  const output = await git.ok(cwd, ['ls-remote', url, `refs/heads/${branch}`]);
  return output.split(/\s+/)[0] || null;
}
