import { sha256Digest } from '../../../shared/oci/digest.ts';
import type { Descriptor, ImageConfig, ImageManifest, ImageRunConfig, StoredImage } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { StepProgress } from '../build-progress.ts';
import type { BuildSession } from '../build-session.ts';
import type { StageResult } from '../stage-state.ts';

/** Docker layer media types and their OCI equivalents: the blobs are the same bytes. */
const OCI_LAYER_TYPES: Readonly<Record<string, string>> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar': MediaType.ociLayerTar,
};

/**
 * Stores the target stage as an OCI image: a linux/amd64 config with the stage's run
 * config, diff_ids and history, and a manifest of its layers, base layers included.
 * `created` is SOURCE_DATE_EPOCH when given, else the time of the stage's last change,
 * so rebuilding from the cache alone gives the same manifest digest. An image that is
 * stored already is not uploaded again, so such a rebuild writes no blob at all.
 */
export async function exportImage(session: BuildSession, result: StageResult): Promise<StoredImage> {
  const progress = StepProgress.start(session.output, session.nextStepNumber(), '', 'exporting to image');
  const { state } = result;
  const created = session.lastChangeTime(state.lastCreated);
  const config: ImageConfig = {
    ...(created === undefined ? {} : { created }),
    ...(result.author ? { author: result.author } : {}),
    architecture: 'amd64',
    os: 'linux',
    config: result.config as ImageRunConfig,
    rootfs: { type: 'layers', diff_ids: state.layers.map((layer) => layer.diffId) },
    history: state.history,
  };
  const layers = state.layers.map((layer) => ociDescriptor(layer.descriptor));

  const image = (await storedImage(session, config, layers)) ?? (await session.deps.images.putImage(config, layers));
  progress.note(`writing image ${image.digest}`);
  progress.done();
  return image;
}

/**
 * Returns the image when its manifest is in the blob store already. The documents are
 * serialised as ImageStore.putImage writes them, so equal images get equal digests.
 */
async function storedImage(session: BuildSession, config: ImageConfig, layers: Descriptor[]): Promise<StoredImage | undefined> {
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha256Digest(configBytes), size: configBytes.length },
    layers,
  };
  const digest = sha256Digest(JSON.stringify(manifest));
  const { blobs } = session.deps;
  if (!(await blobs.stat(digest)) || !(await blobs.stat(manifest.config.digest))) return undefined;
  return { digest, manifest, config };
}

function ociDescriptor(descriptor: Descriptor): Descriptor {
  const mediaType = OCI_LAYER_TYPES[descriptor.mediaType] ?? descriptor.mediaType;
  return { mediaType, digest: descriptor.digest, size: descriptor.size, ...(descriptor.annotations ? { annotations: descriptor.annotations } : {}) };
}
