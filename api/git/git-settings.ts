import type { Config } from '../../shared/config.ts';

export interface GitSettings {
  /** How long a push waits for another push to the same repository to finish, in ms. */
  pushWaitMs: number;
  /** Largest pack a push may send (git's receive.maxInputSize), in bytes. */
  maxPushBytes: number;
  /** Branches whose pushes deploy the repository's app itself; any other branch deploys a preview app. */
  productionBranches: readonly string[];
}

/** Returns the git endpoint's settings: SLIPWAY_GIT_PUSH_WAIT_S and SLIPWAY_GIT_MAX_PUSH_BYTES. */
export function loadGitSettings(config: Pick<Config, 'gitPushWaitMs' | 'gitMaxPushBytes'>): GitSettings {
  return {
    pushWaitMs: config.gitPushWaitMs,
    maxPushBytes: config.gitMaxPushBytes,
    // Heroku deploys pushes to main or master; both are common default branch names.
    productionBranches: ['main', 'master'],
  };
}
