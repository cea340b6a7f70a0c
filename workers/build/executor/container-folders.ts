import { chmod, chown, lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import type { Ownership } from '../../../shared/container/user-resolution.ts';
import { ValidationError } from '../../../shared/errors.ts';

/** Mode of folders that COPY, WORKDIR and RUN create on the way to a path, as docker creates them. */
export const CREATED_FOLDER_MODE = 0o755;

export interface EnsuredFolder {
  hostPath: string;
  /** Whether any folder was created. */
  created: boolean;
}

/**
 * Returns the host path of the folder at `containerPath` in a container root, creating
 * missing folders (mode 0755, owned by `owner`) on the way. The path is resolved inside
 * the root (see resolveInRoot), so a link in the image never leads outside it. Fails
 * with CONTAINER_PATH_NOT_FOLDER when a component is a file.
 */
export async function ensureContainerFolder(root: string, containerPath: string, owner: Ownership = { uid: 0, gid: 0 }): Promise<EnsuredFolder> {
  const hostPath = await resolveInRoot(root, containerPath);
  const relative = path.relative(root, hostPath);
  let current = root;
  let created = false;

  for (const component of relative === '' ? [] : relative.split(path.sep)) {
    current = path.join(current, component);
    const stats = await lstat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (stats?.isDirectory()) continue;
    if (stats) {
      throw new ValidationError(
        'CONTAINER_PATH_NOT_FOLDER',
        `Cannot use ${containerPath} as a folder because /${path.relative(root, current)} is a file in the image: choose another path or remove the file first.`,
        { details: { path: containerPath } },
      );
    }

    await mkdir(current);
    await chown(current, owner.uid, owner.gid);
    await chmod(current, CREATED_FOLDER_MODE);
    created = true;
  }
  return { hostPath, created };
}
