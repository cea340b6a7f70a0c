import { execFile } from 'node:child_process';
import { isIP } from 'node:net';
import { chmod, lstat, mkdir, readdir, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import { ValidationError } from '../../../shared/errors.ts';
import type { FetchGuard } from './fetch-guard.ts';

const execFileAsync = promisify(execFile);

/** Protocols git may use for ADD; `file` and `ext` (which runs commands) stay off. */
const ALLOWED_PROTOCOLS = 'http:https:git:ssh';
const FULL_COMMIT = /^[0-9a-f]{40}$/;

/** A git source of ADD: the repository and the `#ref:subdir` fragment of the reference's URL form. */
export interface GitSource {
  /** The repository URL without the fragment. */
  remote: string;
  /** Branch, tag or commit; the remote's HEAD when absent. */
  ref?: string;
  /** Folder of the repository to add; the whole tree when absent. */
  subdir?: string;
}

/**
 * Reads an ADD source as a git repository, the way BuildKit tells git sources from
 * downloads: `git://`, `ssh://` and `git@host:path` addresses, and http(s) URLs whose
 * path ends in `.git`. Returns undefined for anything else.
 */
export function parseGitSource(source: string): GitSource | undefined {
  const hash = source.indexOf('#');
  const remote = hash === -1 ? source : source.slice(0, hash);
  const fragment = hash === -1 ? '' : source.slice(hash + 1);
  const isGit = /^(git|ssh):\/\//.test(remote) || /^git@[^:]+:/.test(remote) || (/^https?:\/\//.test(remote) && new URL(remote).pathname.endsWith('.git'));
  if (!isGit) return undefined;

  const colon = fragment.indexOf(':');
  const ref = colon === -1 ? fragment : fragment.slice(0, colon);
  const subdir = colon === -1 ? '' : fragment.slice(colon + 1);
  return { remote, ...(ref === '' ? {} : { ref }), ...(subdir === '' ? {} : { subdir }) };
}

export interface GitOptions {
  /** A folder for git's home and config, so no host configuration or credentials apply. */
  homeDir: string;
  signal: AbortSignal;
  timeoutMs: number;
  /** Rejects a remote on the build host itself. */
  guard: FetchGuard;
}

const DEFAULT_PORTS: Record<string, number> = { 'git:': 9418, 'ssh:': 22, 'http:': 80, 'https:': 443 };

/** The host and port git connects to for a remote: a URL's, or `host` and 22 for the `git@host:path` form. */
export function remoteEndpoint(remote: string): { host: string; port: number; protocol: string } {
  const scp = /^git@([^:/]+):/.exec(remote);
  if (scp) return { host: scp[1]!, port: 22, protocol: 'ssh:' };
  const url = new URL(remote);
  return { host: url.hostname, port: Number(url.port || DEFAULT_PORTS[url.protocol]), protocol: url.protocol };
}

/**
 * Checks the remote's host with the fetch guard and returns git options that make git
 * connect to the checked address, so a DNS answer that changes after the check cannot
 * send git to the build host. An allowed or literal host needs no pin.
 */
async function guardRemote(remote: string, options: GitOptions): Promise<string[]> {
  const { host, port, protocol } = remoteEndpoint(remote);
  const addresses = await options.guard.check(remote, host, port);
  if (addresses.length === 0 || isIP(host.replace(/^\[|\]$/g, ''))) return [];
  return pinRemoteArgs(remote, addresses[0]!, protocol, port);
}

/**
 * Returns `git -c` options that make git reach `remote` at `address`. http(s) keeps the
 * name (for TLS and virtual hosts) and pins it with `http.curloptResolve`; git:// and ssh
 * remotes are rewritten to the address with `url.<address form>.insteadOf`.
 */
export function pinRemoteArgs(remote: string, address: string, protocol: string, port: number): string[] {
  const written = isIP(address) === 6 ? `[${address}]` : address;
  const { host } = remoteEndpoint(remote);
  if (protocol === 'http:' || protocol === 'https:') return ['-c', `http.curloptResolve=${host.replace(/^\[|\]$/g, '')}:${port}:${written}`];

  const scp = /^git@([^:/]+):/.exec(remote);
  if (scp) return ['-c', `url.git@${written}:.insteadOf=${scp[0]}`];
  const url = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?)(\[[^\]]*\]|[^:/]*)/i.exec(remote)!;
  return ['-c', `url.${url[1]}${written}.insteadOf=${url[0]}`];
}

/**
 * Returns the commit a git source names, asking the remote with `git ls-remote` unless
 * the ref is a full commit id already. With ADD --checksum the commit must start with it.
 */
export async function resolveGitCommit(source: GitSource, checksum: string | undefined, options: GitOptions): Promise<string> {
  let commit: string;
  if (source.ref !== undefined && FULL_COMMIT.test(source.ref)) {
    commit = source.ref;
  } else {
    const ref = source.ref ?? 'HEAD';
    const pin = await guardRemote(source.remote, options);
    const { stdout } = await runGit([...pin, 'ls-remote', '--', source.remote, ref, `refs/tags/${ref}^{}`], options);
    commit = pickCommit(stdout, ref) ?? (source.ref !== undefined && /^[0-9a-f]{7,39}$/.test(source.ref) ? source.ref : undefined) ?? '';
    if (commit === '') {
      throw new ValidationError('ADD_GIT_REF_NOT_FOUND', `ADD ${source.remote}: the repository has no branch, tag or commit ${ref}: check the #ref part of the URL.`, {
        details: { remote: source.remote, ref },
      });
    }
  }
  if (checksum !== undefined && !commit.startsWith(checksum)) {
    throw new ValidationError('ADD_CHECKSUM_MISMATCH', `ADD ${source.remote}: ${source.ref ?? 'HEAD'} is commit ${commit}, but --checksum expects ${checksum}: check the ref or update the checksum.`, {
      details: { remote: source.remote, commit, expected: checksum },
    });
  }
  return commit;
}

/** Chooses the commit of `ref` from `git ls-remote` output, preferring a tag's peeled commit (`^{}`). */
function pickCommit(output: string, ref: string): string | undefined {
  const rows = output.trim().split('\n').filter(Boolean).map((line) => line.split('\t') as [string, string]);
  const peeled = rows.find(([, name]) => name === `refs/tags/${ref}^{}`);
  const exact = rows.find(([, name]) => name === ref || name === `refs/heads/${ref}` || name === `refs/tags/${ref}`);
  return (peeled ?? exact ?? rows[0])?.[0];
}

/**
 * Fetches `commit` into `workDir` and returns the folder to add: the subdir of the
 * checkout. As the reference describes, files get mode 644 or 755 (when executable),
 * folders 755, and the `.git` folder is left out unless `keepGitDir`. Every file's
 * mtime is the commit time, so the same commit always gives the same layer.
 * TODO: submodules are not fetched, where BuildKit checks them out too.
 */
export async function checkoutGitCommit(source: GitSource, commit: string, workDir: string, keepGitDir: boolean, options: GitOptions): Promise<string> {
  const repository = path.join(workDir, 'repository');
  await mkdir(repository, { recursive: true });
  const git = (args: string[]) => runGit(args, { ...options, cwd: repository });

  await git(['init', '--quiet']);
  await git(['remote', 'add', 'origin', source.remote]);
  const pin = await guardRemote(source.remote, options);
  try {
    await git([...pin, 'fetch', '--quiet', '--depth=1', 'origin', commit]);
  } catch {
    // Servers that do not serve a commit by id (uploadpack.allowReachableSHA1InWant off) need the whole history.
    await git([...pin, 'fetch', '--quiet', '--tags', 'origin']);
  }
  await git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', commit]);
  const commitTime = new Date(Number((await git(['log', '-1', '--format=%ct', commit])).stdout.trim()) * 1000);
  if (!keepGitDir) await rm(path.join(repository, '.git'), { recursive: true, force: true });

  const root = source.subdir === undefined ? repository : await resolveInRoot(repository, source.subdir);
  const stats = await lstat(root).catch(() => null);
  if (!stats?.isDirectory()) {
    throw new ValidationError('ADD_GIT_SUBDIR_NOT_FOUND', `ADD ${source.remote}: commit ${commit} has no folder ${source.subdir}: check the :subdir part of the URL.`, {
      details: { remote: source.remote, subdir: source.subdir },
    });
  }
  await normalizeTree(root, commitTime);
  return root;
}

/** Sets the modes git sources get (644, 755 for executables and folders) and one mtime for everything. */
async function normalizeTree(folder: string, mtime: Date): Promise<void> {
  for (const name of await readdir(folder)) {
    const child = path.join(folder, name);
    const stats = await lstat(child);
    if (stats.isSymbolicLink()) continue;
    if (stats.isDirectory()) await normalizeTree(child, mtime);
    await chmod(child, stats.isDirectory() || (stats.mode & 0o100) !== 0 ? 0o755 : 0o644);
    await utimes(child, mtime, mtime);
  }
  await chmod(folder, 0o755);
  await utimes(folder, mtime, mtime);
}

async function runGit(args: string[], options: GitOptions & { cwd?: string }): Promise<{ stdout: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: options.homeDir,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: ALLOWED_PROTOCOLS,
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
  };
  try {
    return await execFileAsync('git', args, { cwd: options.cwd, env, signal: options.signal, timeout: options.timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new ValidationError('ADD_GIT_FAILED', `git ${args[0]} for ADD failed: ${stderr || (error as Error).message}. Check that the repository URL is reachable from the build worker.`, {
      cause: error,
      details: { args },
    });
  }
}
