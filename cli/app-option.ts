import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CliError, ExitCode } from './cli-error.ts';

const execFileAsync = promisify(execFile);

/** The git remote that `slipway git-remote` adds, and that names the app of a repository. */
export const DEFAULT_REMOTE = 'slipway';

/** The options every command that acts on one app takes. */
export const APP_OPTION = { app: { type: 'string', short: 'a' } } as const;

/**
 * Finds the app a command acts on, as the Heroku CLI does: `--app NAME`, else
 * SLIPWAY_APP, else the app whose repository the git remote `slipway` of the current
 * folder's repository points at (`.../git/<app>.git`).
 */
export async function resolveApp(flag: string | undefined, cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (flag) return flag;
  if (env.SLIPWAY_APP) return env.SLIPWAY_APP;

  const remoteUrl = await gitRemoteUrl(cwd, DEFAULT_REMOTE);
  const fromRemote = remoteUrl ? appFromRepositoryUrl(remoteUrl) : null;
  if (fromRemote) return fromRemote;
  throw new CliError(
    'no app given: add --app NAME, set SLIPWAY_APP, or run the command in a git repository with a "slipway" remote (slipway git-remote NAME adds it).',
    ExitCode.usage,
  );
}

/** Returns the app name of a Slipway repository URL, `http://host/git/<app>.git`, or null. */
export function appFromRepositoryUrl(url: string): string | null {
  return /\/git\/([a-z0-9][a-z0-9-]{0,62})(?:\.git)?\/?$/.exec(url)?.[1] ?? null;
}

async function gitRemoteUrl(cwd: string, remote: string): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync('git', ['config', '--get', `remote.${remote}.url`], { cwd });
    return stdout.trim() || null;
  } catch {
    // Not a git repository, no such remote, or no git at all.
    return null;
  }
}
