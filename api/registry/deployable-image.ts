import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Database } from '../../shared/db/database.ts';
import { NotFoundError, ValidationError } from '../../shared/errors.ts';
import { isLoopbackRegistry, resolveImageForOwner } from '../../shared/images/image-reach.ts';
import type { ImageStore } from '../../shared/images/image-store.ts';
import { assertSupportedLayer } from '../../shared/layers/layer-compression.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { formatImageReference, parseImageReference, type ImageReference } from '../../shared/oci/image-reference.ts';
import type { ImageIndex, StoredImage } from '../../shared/oci/image-types.ts';
import { DEFAULT_PLATFORM, selectPlatformManifest } from '../../shared/registry/platform.ts';
import { loadManifest } from './manifest-handlers.ts';
import { isValidTag } from './registry-names.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';
import { repositoryReferencesBlob } from './repository-blobs.ts';
import { openRepository, resolveTag } from './repositories.ts';

export interface DeployableImageDeps {
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  /** The API port, so that `localhost:<port>` and `127.0.0.1:<port>` name this registry. */
  apiPort: number;
}

export interface DeployableImage {
  /** The reference as given, normalised. */
  reference: string;
  /** The single-platform manifest to release; for an index, its linux/amd64 entry. */
  image: StoredImage;
}

/**
 * Finds the image a deploy by reference names, and checks that a runner can run it.
 * A reference whose host is this registry (`<api host>/<app>:<tag>`, as pushed) resolves
 * through the registry's names. Any other reference resolves in the image store, as FROM
 * does, and is never pulled from another registry here.
 */
export async function resolveDeployableImage(deps: DeployableImageDeps, input: string, requestHost: string | undefined, owner: string): Promise<DeployableImage> {
  const reference = parseImageReference(input);
  const digest = isThisRegistry(reference.registry, requestHost, deps.apiPort)
    ? await resolveInRegistry(deps, reference, owner)
    : await resolveImageForOwner(deps, reference, owner);
  if (!digest) {
    throw new NotFoundError('IMAGE_NOT_FOUND', `Image ${input} is not in this server's registry or image store: push it first, for example with "skopeo copy <source> docker://<api host>/<app>:<tag>".`, {
      details: { reference: input },
    });
  }

  const image = await loadRunnableImage(deps, digest, input);
  return { reference: formatImageReference(reference), image };
}

/** Checks whether a reference's host is this API: the host the request came to, or a loopback name with the API port. */
export function isThisRegistry(registry: string, requestHost: string | undefined, apiPort: number): boolean {
  if (requestHost && registry.toLowerCase() === requestHost.toLowerCase()) return true;
  return isLoopbackRegistry(registry, apiPort);
}

/** Resolves a reference to this registry as `owner` may pull it; another owner's app or digest reads as missing. */
async function resolveInRegistry(deps: DeployableImageDeps, reference: ImageReference, owner: string): Promise<Digest | null> {
  const repository = await openRepository(deps.db, reference.repository, 'pull', owner).catch(() => null);
  if (!repository) return null;
  if (reference.digest) {
    const reachable = owner === ADMIN_OWNER || (await repositoryReferencesBlob(deps.db, deps.blobs, repository, reference.digest));
    return reachable ? reference.digest : null;
  }
  const tag = reference.tag ?? 'latest';
  return isValidTag(tag) ? resolveTag(deps.db, repository, tag) : null;
}

/**
 * Loads the manifest a digest names, choosing linux/amd64 from an index, and checks what
 * the runner needs: a Linux amd64 config, layers it can unpack, one diff_id per layer,
 * and every layer in the blob store.
 */
async function loadRunnableImage(deps: DeployableImageDeps, digest: Digest, input: string): Promise<StoredImage> {
  let stored = await loadManifest(deps.blobs, digest);
  if (stored?.document.kind === 'index') {
    const index = JSON.parse(stored.bytes.toString('utf8')) as ImageIndex;
    const chosen = selectPlatformManifest(index, DEFAULT_PLATFORM, `Image ${input}`);
    stored = await loadManifest(deps.blobs, chosen.digest);
  }
  if (!stored || stored.document.kind !== 'manifest') {
    throw new NotFoundError('IMAGE_NOT_FOUND', `Image ${input} names ${digest}, which is not a stored image manifest: push the image again.`, { details: { digest } });
  }

  const image = await deps.images.getImage(stored.digest);
  const platform = `${image.config.os}/${image.config.architecture}`;
  if (image.config.os !== DEFAULT_PLATFORM.os || image.config.architecture !== DEFAULT_PLATFORM.architecture) {
    throw new ValidationError('IMAGE_PLATFORM_UNSUPPORTED', `Image ${input} is built for ${platform}, but runners run linux/amd64: push an image built for linux/amd64.`, {
      details: { platform },
    });
  }
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== image.manifest.layers.length) {
    throw new ValidationError('IMAGE_LAYERS_MISMATCH', `Image ${input} lists ${image.manifest.layers.length} layers but ${diffIds.length} diff_ids in its config: push a consistent image.`);
  }
  for (const layer of image.manifest.layers) {
    assertSupportedLayer(layer, `image ${input}`);
    if (!(await deps.blobs.stat(layer.digest))) {
      throw new NotFoundError('IMAGE_LAYER_MISSING', `Layer ${layer.digest} of image ${input} is not in the blob store: push the image again.`, { details: { digest: layer.digest } });
    }
  }
  return image;
}
