import type { Descriptor, ImageConfig, ImageRunConfig, StoredImage } from '../../../shared/oci/image-types.ts';
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
 * so rebuilding from the cache alone gives the same manifest digest.
 */
export async function exportImage(session: BuildSession, result: StageResult): Promise<StoredImage> {
  const progress = StepProgress.start(session.output, session.nextStepNumber(), '', 'exporting to image');
  const { state } = result;
  const config: ImageConfig = {
    created: session.lastChangeTime(state.lastCreated),
    ...(result.author ? { author: result.author } : {}),
    architecture: 'amd64',
    os: 'linux',
    config: result.config as ImageRunConfig,
    rootfs: { type: 'layers', diff_ids: state.layers.map((layer) => layer.diffId) },
    history: state.history,
  };

  const image = await session.deps.images.putImage(config, state.layers.map((layer) => ociDescriptor(layer.descriptor)));
  progress.note(`writing image ${image.digest}`);
  progress.done();
  return image;
}

function ociDescriptor(descriptor: Descriptor): Descriptor {
  const mediaType = OCI_LAYER_TYPES[descriptor.mediaType] ?? descriptor.mediaType;
  return { mediaType, digest: descriptor.digest, size: descriptor.size, ...(descriptor.annotations ? { annotations: descriptor.annotations } : {}) };
}
