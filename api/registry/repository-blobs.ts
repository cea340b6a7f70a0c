import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Database } from '../../shared/db/database.ts';
import { manifestsReach, releasedManifests, taggedManifests } from '../../shared/images/image-reach.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import type { Repository } from './repositories.ts';

/**
 * Checks whether `digest` is a manifest, index, config or layer that one of the repository's
 * tags or releases reaches. An owner's token reads a blob only through a repository that
 * references it (see manifestsReach).
 * NOTE: each blob request of an owner's token reads every manifest of the repository
 * again, so a pull costs layers × releases small reads; nothing caches the result yet.
 */
export async function repositoryReferencesBlob(db: Database, blobs: BlobStore, repository: Repository, digest: Digest): Promise<boolean> {
  const roots = await taggedManifests(db, repository.tagsName);
  if (repository.app) roots.push(...(await releasedManifests(db, [repository.app.id])));
  return manifestsReach(blobs, roots, digest);
}
