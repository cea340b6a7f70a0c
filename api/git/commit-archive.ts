import { BlobTooLargeError } from '../../shared/blobs/blob-store.ts';
import { spoolToFile, type SpooledFile } from '../../shared/blobs/spool.ts';
import { SlipwayError, ValidationError } from '../../shared/errors.ts';
import { consumeNow, runGit, spawnGit, waitForExit } from './git-process.ts';

const COMMIT_ID = /^[0-9a-f]{40}$/;

/**
 * Writes the tree of a commit as a tar archive to a spool file, with `git archive`. That
 * reads the repository's objects only: no working copy, no hooks and no smudge filters run
 * (git has no global or system config here), so Git LFS pointer files stay pointer files.
 * Symlinks stay symlinks, and a submodule is an empty folder, because git archive never
 * fetches one. `.gitattributes` still applies `export-ignore` and `export-subst`, as it
 * does for any `git archive`. Fails with CONTEXT_TOO_LARGE past `maxBytes`.
 */
export async function archiveCommit(home: string, repository: string, commit: string, spoolFolder: string, maxBytes: number): Promise<SpooledFile> {
  if (!COMMIT_ID.test(commit)) throw new ValidationError('GIT_COMMIT_INVALID', `${JSON.stringify(commit)} is not a full commit id.`);
  const type = (await runGit(home, ['--git-dir', repository, 'cat-file', '-t', commit])).trim();
  if (type !== 'commit') {
    throw new ValidationError('GIT_COMMIT_INVALID', `${commit} is a ${type}, not a commit: push a branch that points to a commit.`);
  }

  const git = spawnGit(home, ['--git-dir', repository, 'archive', '--format=tar', commit], { stdio: ['ignore', 'pipe', 'pipe'] });
  const archive = consumeNow(git.stdout!);
  const stderr: Buffer[] = [];
  git.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = waitForExit(git);
  try {
    const spooled = await spoolToFile(archive, spoolFolder, { maxBytes });
    const code = await exited;
    if (code !== 0) {
      await spooled.remove();
      throw new SlipwayError('GIT_ARCHIVE_FAILED', `git archive ${commit} failed: ${Buffer.concat(stderr).toString().trim() || `exit code ${code}`}`, { kind: 'system' });
    }
    return spooled;
  } catch (error) {
    git.kill();
    if (error instanceof BlobTooLargeError) {
      throw new ValidationError(
        'CONTEXT_TOO_LARGE',
        `The tree of commit ${commit.slice(0, 7)} is larger than the build context limit of ${maxBytes} bytes: remove large files from the commit (git archive honours export-ignore in .gitattributes), or raise SLIPWAY_MAX_CONTEXT_BYTES on the server.`,
        { details: { maxBytes } },
      );
    }
    throw error;
  } finally {
    await exited;
  }
}
