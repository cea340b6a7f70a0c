import { resolveUser } from '../../../shared/container/user-resolution.ts';
import { isSlipwayError } from '../../../shared/errors.ts';
import type { WorkdirStep } from '../frontend/index.ts';
import { ensureContainerFolder } from './container-folders.ts';
import type { StepFilesystem } from './step-filesystem.ts';

/** Errors of resolveUser that mean the USER does not exist in the image yet. */
const UNKNOWN_ACCOUNT_CODES = new Set(['USER_NOT_FOUND', 'GROUP_NOT_FOUND']);

/**
 * Creates the WORKDIR folder and missing folders above it, owned by the USER in effect,
 * as BuildKit does, or by root when that user is not in the image's /etc/passwd. An
 * existing folder is left as it is, so the step then makes no layer.
 */
export async function executeWorkdir(step: WorkdirStep, filesystem: StepFilesystem): Promise<void> {
  let owner = { uid: 0, gid: 0 };
  try {
    const user = await resolveUser(filesystem.root, step.user);
    owner = { uid: user.uid, gid: user.gid };
  } catch (error) {
    if (!isSlipwayError(error) || !UNKNOWN_ACCOUNT_CODES.has(error.code)) throw error;
  }
  await ensureContainerFolder(filesystem.root, step.path, owner);
}
