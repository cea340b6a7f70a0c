import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeLayer } from '../../../../shared/layers/layer-writer.ts';
import type { Digest } from '../../../../shared/oci/digest.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../../../../shared/oci/image-types.ts';
import { MediaType } from '../../../../shared/oci/media-types.ts';
import { pushBlob, pushManifest, type Send } from './registry-client.ts';

export interface LayerFile {
  file: string;
  bytes: Buffer;
  digest: Digest;
  diffId: Digest;
  size: number;
}

/** Makes a folder with `populate`, then writes it as a gzip layer beside it. */
export async function makeLayer(scratch: string, name: string, populate: (root: string) => Promise<void>): Promise<LayerFile> {
  const root = path.join(scratch, `${name}-root`);
  await mkdir(root, { recursive: true });
  await populate(root);
  const file = path.join(scratch, `${name}.tar.gz`);
  const written = await writeLayer(root, file, { sourceDateEpoch: 0 });
  return { ...written, file, bytes: await readFile(file) };
}

/** Makes an image config for `layers`; fields of `overrides` replace the defaults. */
export function imageConfig(layers: LayerFile[], overrides: Partial<ImageConfig> = {}): ImageConfig {
  return {
    created: '2024-05-06T07:08:09Z',
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map(() => ({ created: '2024-05-06T07:08:09Z', created_by: 'registry test layer' })),
    ...overrides,
  };
}

export interface PushedImage {
  digest: Digest;
  bytes: Buffer;
  manifest: ImageManifest;
  config: Descriptor;
}

/** Pushes layers, a config and a manifest of OCI or Docker schema 2 media types under `reference`. */
export async function pushImage(
  send: Send,
  name: string,
  reference: string,
  layers: LayerFile[],
  config: ImageConfig,
  format: 'oci' | 'docker' = 'oci',
): Promise<PushedImage> {
  const types =
    format === 'oci'
      ? { manifest: MediaType.ociManifest, config: MediaType.ociConfig, layer: MediaType.ociLayerGzip }
      : { manifest: MediaType.dockerManifest, config: MediaType.dockerConfig, layer: MediaType.dockerLayerGzip };
  const layerDescriptors: Descriptor[] = [];
  for (const layer of layers) layerDescriptors.push(await pushBlob(send, name, layer.bytes, types.layer));
  const configDescriptor = await pushBlob(send, name, Buffer.from(JSON.stringify(config)), types.config);

  const manifest: ImageManifest = { schemaVersion: 2, mediaType: types.manifest, config: configDescriptor, layers: layerDescriptors };
  const pushed = await pushManifest(send, name, reference, manifest, types.manifest);
  return { ...pushed, manifest, config: configDescriptor };
}
