import { NotFoundError, ValidationError, errorMessage } from '../../shared/errors.ts';
import { isLoopbackRegistry, resolveAppImage, resolveImageForOwner } from '../../shared/images/image-reach.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { formatImageReference, type ImageReference } from '../../shared/oci/image-reference.ts';
import type { StoredImage } from '../../shared/oci/image-types.ts';
import { pullImage } from '../../shared/registry/registry-client.ts';
import { StepProgress } from './build-progress.ts';
import type { BuildSession } from './build-session.ts';
import type { StageLayer } from './stage-state.ts';

/** Where an image is used: as a stage's base (FROM) or as the source of `COPY --from`. */
export type ImageUse = 'base' | 'copy-source';

/** The base images that `npm run base-images` makes, by normalized reference. */
const LOCAL_BASE_IMAGES = new Set(['docker.io/library/debian:bookworm']);

/**
 * Returns an image from the image store, pulling it through the distribution API when
 * the store does not have it (a step of its own in the build output). Fails with BASE_IMAGE_NOT_FOUND (or
 * COPY_SOURCE_IMAGE_NOT_FOUND) naming the reference and how to provide it, and with
 * IMAGE_PLATFORM_UNSUPPORTED for an image that is not linux/amd64.
 */
export async function loadImage(session: BuildSession, reference: ImageReference, use: ImageUse, line: number): Promise<StoredImage> {
  const { images } = session.deps;
  const referenceText = formatImageReference(reference);
  const stored = isLoopbackRegistry(reference.registry, session.deps.config.apiPort)
    ? await resolveOwnRegistryImage(session, reference, use, line)
    : await resolveImageForOwner(session.deps, reference, session.input.owner);

  let image: StoredImage;
  if (stored) {
    image = await images.getImage(stored);
  } else {
    const progress = StepProgress.start(session.output, session.nextStepNumber(), 'internal', `pull ${referenceText}`);
    try {
      image = (await pullImage(reference, { images })).image;
    } catch (error) {
      throw imageNotFound(reference, use, line, error);
    }
    progress.done();
  }

  checkPlatform(image, referenceText, line);
  return image;
}

/** Returns the image's layers, bottom layer first; layerFolders unpacks them when a step needs them. */
export function imageLayers(image: StoredImage): StageLayer[] {
  const { layers } = image.manifest;
  const diffIds = image.config.rootfs.diff_ids;
  if (layers.length !== diffIds.length) {
    throw new ValidationError(
      'IMAGE_LAYERS_MISMATCH',
      `Image ${image.digest} has ${layers.length} layers in its manifest but ${diffIds.length} diff_ids in its config: rebuild or pull the image again.`,
    );
  }
  return layers.map((descriptor, index) => ({ descriptor, diffId: diffIds[index]! }));
}

function checkPlatform(image: StoredImage, referenceText: string, line: number): void {
  const { os, architecture } = image.config;
  if (os === 'linux' && architecture === 'amd64') return;
  throw new ValidationError(
    'IMAGE_PLATFORM_UNSUPPORTED',
    `Image ${referenceText} (line ${line}) is for ${os}/${architecture}, but Slipway builds and runs linux/amd64 only: use a linux/amd64 variant of the image.`,
    { details: { line, reference: referenceText, platform: `${os}/${architecture}` } },
  );
}

function imageNotFound(reference: ImageReference, use: ImageUse, line: number, cause: unknown): NotFoundError {
  const referenceText = formatImageReference(reference);
  const hint = LOCAL_BASE_IMAGES.has(referenceText)
    ? 'Make it on this host with `npm run base-images`.'
    : `Push it to a registry that this host can reach, or load it with POST /v1/images/import?ref=${referenceText}.`;
  const subject = use === 'base' ? 'Base image' : 'The image that COPY --from names,';
  return new NotFoundError(
    use === 'base' ? 'BASE_IMAGE_NOT_FOUND' : 'COPY_SOURCE_IMAGE_NOT_FOUND',
    `${subject} ${referenceText} (line ${line}) is not in the image store, and pulling it from ${reference.registry} failed: ${errorMessage(cause)} ${hint}`,
    { cause, details: { line, reference: referenceText } },
  );
}

/**
 * Resolves `FROM localhost:<api port>/<app>:<tag>` (or 127.0.0.1, [::1]) from this
 * server's own registry without a pull, which would need credentials the build does not
 * have. The build's owner must own the app; anything missing fails the step at once.
 */
async function resolveOwnRegistryImage(session: BuildSession, reference: ImageReference, use: ImageUse, line: number): Promise<Digest> {
  const digest = reference.repository.includes('/') ? null : await resolveAppImage(session.deps, reference.repository, reference, session.input.owner);
  if (digest) return digest;
  const referenceText = formatImageReference(reference);
  const what = use === 'base' ? 'Base image' : 'The image that COPY --from names,';
  throw new NotFoundError(
    use === 'base' ? 'BASE_IMAGE_NOT_FOUND' : 'COPY_SOURCE_IMAGE_NOT_FOUND',
    `${what} ${referenceText} (line ${line}) is not in this server's registry: name one of your apps with a release or a pushed tag, such as localhost:${session.deps.config.apiPort}/<app>:latest.`,
    { details: { reference: referenceText, line } },
  );
}
