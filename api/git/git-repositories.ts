import { randomBytes } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../../shared/logger.ts';
import { gitHomeFolder, runGit } from './git-process.ts';

const log = createLogger('git');

/**
 * Returns the path of an app's bare repository, `<dataDir>/git/repositories/<app id>.git`.
 * The app id names it, not the app name, so an app deleted and created again starts with
 * an empty repository.
 */
export function repositoryPath(dataDir: string, appId: string): string {
  // TODO: with several API hosts serving one installation, every host must see the same
  // repositories: put this folder on a shared file system (NFS, EFS) or route each app's
  // git traffic to one host. Until then a push works only on the host that has the folder.
  return path.join(dataDir, 'git', 'repositories', `${appId}.git`);
}

/**
 * Settings kept in each repository. logAllRefUpdates keeps a reflog, so a commit that a
 * force push replaced can be found again. The settings of receive-pack are given on its
 * command line instead (see RECEIVE_PACK_CONFIG), so they apply to repositories made by
 * earlier versions too.
 */
const REPOSITORY_CONFIG: [string, string][] = [['core.logAllRefUpdates', 'true']];

/**
 * receive-pack's settings for every push:
 * - shallowUpdate accepts pushes from shallow clones;
 * - fsckObjects checks every pushed object (malformed trees, paths such as `.git` or
 *   `..`), with the zero-padded file modes of some old histories allowed;
 * - denyNonFastForwards=false allows force pushes;
 * - denyDeleteCurrent=ignore lets the update hook reject deleting main with Slipway's
 *   message, instead of git's advice to change a setting that the pusher cannot change.
 */
export const RECEIVE_PACK_CONFIG: [string, string][] = [
  ['receive.shallowUpdate', 'true'],
  ['receive.fsckObjects', 'true'],
  ['receive.fsck.zeroPaddedFilemode', 'ignore'],
  ['receive.denyNonFastForwards', 'false'],
  ['receive.denyDeleteCurrent', 'ignore'],
];

/**
 * Returns the path of an app's bare repository, creating it on first use with `main` as
 * its default branch. Two requests that create it at once are safe: each initialises a
 * folder of its own and renames it into place, and the loser removes its copy.
 */
export async function ensureRepository(dataDir: string, appId: string): Promise<string> {
  const repository = repositoryPath(dataDir, appId);
  if (await exists(path.join(repository, 'HEAD'))) return repository;

  const home = await gitHomeFolder(dataDir);
  const staging = `${repository}.new-${randomBytes(4).toString('hex')}`;
  await mkdir(path.dirname(repository), { recursive: true, mode: 0o700 });
  try {
    // An empty template folder leaves out the sample hooks; Slipway's hook comes from core.hooksPath.
    const template = path.join(home, 'template');
    await mkdir(template, { recursive: true });
    await runGit(home, ['init', '--quiet', '--bare', `--template=${template}`, '--initial-branch=main', staging]);
    for (const [key, value] of REPOSITORY_CONFIG) await runGit(home, ['--git-dir', staging, 'config', key, value]);
    await rename(staging, repository).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
    log.info({ appId, repository }, 'git repository created');
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return repository;
}

/** Deletes an app's repository with all its history; a missing one is fine. */
export async function removeRepository(dataDir: string, appId: string): Promise<void> {
  await rm(repositoryPath(dataDir, appId), { recursive: true, force: true });
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
