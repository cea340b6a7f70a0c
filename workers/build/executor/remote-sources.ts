import { mkdir, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../../shared/errors.ts';
import { describeStep } from '../build-errors.ts';
import type { BuildSession } from '../build-session.ts';
import type { CopyStep } from '../frontend/index.ts';
import { checkoutGitCommit, parseGitSource, resolveGitCommit, type GitOptions } from './git-source.ts';
import { FetchGuard } from './fetch-guard.ts';
import { downloadUrl, parseUrlChecksum, urlFileName, type Download } from './http-source.ts';

/** A file or folder that ADD took from a URL or a git repository, ready to copy. */
export interface FetchedRemote {
  kind: 'http' | 'git';
  hostPath: string;
  /** The download's file name; for git, the repository. */
  name: string;
}

export interface RemoteSources {
  /** The step's sources that are URLs or repositories rather than paths. */
  sources: Set<string>;
  /** One cache key part per remote source: its content digest, checksum or commit. */
  checksums: string[];
  /** Downloads and checks out what the cache key parts name; called when the step runs. */
  fetch(): Promise<FetchedRemote[]>;
  /** Removes the downloads and checkouts; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Resolves the remote sources of an ADD for the cache key, before the step runs. A URL
 * with `--checksum` is keyed by that checksum and downloaded only on a cache miss. A URL
 * without one is downloaded now and keyed by its content, as BuildKit does (the
 * Last-Modified time sets the file's mtime but stays out of the key). A git source is
 * keyed by the commit its ref names (`git ls-remote`) and checked out on a miss.
 */
export async function fetchRemoteSources(session: BuildSession, step: CopyStep, workDir: string): Promise<RemoteSources> {
  const remote = step.keyword === 'ADD' ? step.sources.filter((source) => /^https?:\/\//.test(source) || parseGitSource(source) !== undefined) : [];
  const result: RemoteSources = { sources: new Set(remote), checksums: [], fetch: async () => [], remove: async () => {} };
  if (step.checksum !== undefined && (remote.length !== 1 || step.sources.length !== 1)) {
    throw new ValidationError('ADD_CHECKSUM_INVALID', `${describeStep(step)}: --checksum applies to a single URL or git source: give ADD one remote source when you use it.`, {
      details: { line: step.line },
    });
  }
  if (remote.length === 0) return result;

  await mkdir(workDir, { recursive: true });
  result.remove = () => rm(workDir, { recursive: true, force: true });
  const guard = new FetchGuard(session.deps.config.buildFetchAllow);
  const gitOptions: GitOptions = { homeDir: path.join(workDir, 'home'), signal: session.signal, timeoutMs: session.deps.config.buildStepTimeoutMs, guard };
  await mkdir(gitOptions.homeDir, { recursive: true });

  const fetchers: (() => Promise<FetchedRemote>)[] = [];
  try {
    for (const [index, source] of remote.entries()) {
      const folder = path.join(workDir, String(index));
      await mkdir(folder);
      const git = parseGitSource(source);
      if (git) {
        const commit = await resolveGitCommit(git, step.checksum, gitOptions);
        result.checksums.push(`git ${git.remote} ${commit} ${git.subdir ?? ''} keep-git-dir=${step.keepGitDir}`);
        fetchers.push(async () => ({ kind: 'git', name: git.remote, hostPath: await checkoutGitCommit(git, commit, folder, step.keepGitDir, gitOptions) }));
        continue;
      }

      const request = {
        url: source,
        file: path.join(folder, 'download'),
        maxBytes: session.disk.remaining(),
        timeoutMs: session.deps.config.buildStepTimeoutMs,
        signal: session.signal,
        guard,
      };
      if (step.checksum !== undefined) {
        const expectedDigest = parseUrlChecksum(step.checksum, source);
        result.checksums.push(`url ${source} ${urlFileName(source)} ${expectedDigest}`);
        fetchers.push(async () => toFetched(await downloadUrl({ ...request, expectedDigest })));
        continue;
      }
      const download = await downloadUrl(request);
      result.checksums.push(`url ${source} ${download.fileName} ${download.digest}`);
      fetchers.push(async () => toFetched(download));
    }
  } catch (error) {
    await result.remove();
    throw error;
  }

  result.fetch = async () => {
    const fetched: FetchedRemote[] = [];
    for (const fetcher of fetchers) fetched.push(await fetcher());
    return fetched;
  };
  return result;
}

/** Gives a download what ADD gives a URL's file: mode 0600 (until --chmod) and Last-Modified as its mtime. */
async function toFetched(download: Download): Promise<FetchedRemote> {
  if (download.lastModified) await utimes(download.file, download.lastModified, download.lastModified);
  return { kind: 'http', hostPath: download.file, name: download.fileName };
}
