import { createHash } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Digest } from '../../../../shared/oci/digest.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../../../../shared/oci/image-types.ts';
import { MediaType } from '../../../../shared/oci/media-types.ts';
import type { WrittenLayer } from '../../../../shared/layers/layer-writer.ts';

export interface LayoutLayer extends WrittenLayer {
  file: string;
}

export interface LayoutImage {
  manifestDigest: Digest;
  manifest: ImageManifest;
  config: ImageConfig;
}

/**
 * Writes an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`) holding one
 * image made of the given layers, tagged `tag` with the standard ref.name annotation.
 */
export async function writeOciLayout(layoutDir: string, layers: LayoutLayer[], tag: string, architecture = 'amd64'): Promise<LayoutImage> {
  await mkdir(path.join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));

  const descriptors: Descriptor[] = [];
  for (const layer of layers) {
    await copyFile(layer.file, blobPath(layoutDir, layer.digest));
    descriptors.push({ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size });
  }
  const config: ImageConfig = {
    architecture,
    os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
  };
  const configDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: descriptors };
  const manifestDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);

  const index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ ...manifestDescriptor, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify(index));
  return { manifestDigest: manifestDescriptor.digest, manifest, config };
}

export async function writeBlob(layoutDir: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256(bytes);
  await mkdir(path.join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

export function blobPath(layoutDir: string, digest: Digest): string {
  return path.join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

export function sha256(bytes: Buffer): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
