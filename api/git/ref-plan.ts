import type { RefUpdate } from './hook-channel.ts';

/** git writes an all-zero object name for the side of an update that does not exist. */
const ZERO_ID = /^0+$/;

/** The action a push takes for one ref. */
export type RefPlan =
  /** Build the commit and release it to the repository's app (`production`) or to the branch's preview app. */
  | { kind: 'deploy'; branch: string; commit: string; preview: boolean }
  /** The branch was deleted: delete its preview app. */
  | { kind: 'delete-preview'; branch: string }
  /** Store the ref without deploying anything, such as a tag. */
  | { kind: 'store'; message: string }
  | { kind: 'reject'; message: string };

/**
 * Decides what a pushed ref update does. A branch in `productionBranches` deploys the
 * app, any other branch deploys a preview app and deleting it deletes that app, tags are
 * stored, and other refs (notes, remote-tracking refs) are rejected. A preview app's own
 * repository (`isPreviewApp`) takes its production branches only, so previews do not nest.
 */
export function planRefUpdate(update: RefUpdate, productionBranches: readonly string[], isPreviewApp = false): RefPlan {
  const deleted = ZERO_ID.test(update.new);

  if (update.ref.startsWith('refs/tags/')) {
    return { kind: 'store', message: `Tag ${update.ref.slice('refs/tags/'.length)} ${deleted ? 'deleted' : 'stored'}; tags do not deploy.` };
  }
  if (!update.ref.startsWith('refs/heads/')) {
    return { kind: 'reject', message: `${update.ref} is not a branch or tag: push branches (refs/heads/...) to deploy.` };
  }

  const branch = update.ref.slice('refs/heads/'.length);
  const production = productionBranches.includes(branch);
  if (isPreviewApp && !production) {
    return {
      kind: 'reject',
      message: `This app is a preview app, which deploys ${productionBranches.join(' or ')} only: push ${branch} to the repository of the app it previews to get a preview of it.`,
    };
  }
  if (deleted && production) {
    return {
      kind: 'reject',
      message: `Deleting ${branch} would leave the app without its source; delete the app with "slipway apps delete" instead.`,
    };
  }
  if (deleted) return { kind: 'delete-preview', branch };
  return { kind: 'deploy', branch, commit: update.new, preview: !production };
}
