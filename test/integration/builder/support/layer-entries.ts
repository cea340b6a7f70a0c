import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import type { BlobStore } from '../../../../shared/blobs/blob-store.ts';
import type { Digest } from '../../../../shared/oci/digest.ts';
import type { StoredImage } from '../../../../shared/oci/image-types.ts';

export interface LayerEntry {
  /** The entry name without a trailing slash. */
  name: string;
  type: string;
  /** Permission bits as octal text, such as '755' or '4755'. */
  mode: string;
  uid: number;
  gid: number;
  linkname?: string;
  /** UTF-8 content of regular files. */
  content?: string;
  mtime: number;
}

/** Reads every entry of a gzip layer blob, in the order the layer stores them. */
export async function readLayerEntries(blobs: BlobStore, digest: Digest): Promise<LayerEntry[]> {
  const extract = tarStream.extract();
  (await blobs.get(digest)).pipe(createGunzip()).pipe(extract as unknown as NodeJS.WritableStream);

  const entries: LayerEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const header = entry.header;
    entries.push({
      name: header.name.replace(/\/$/, ''),
      type: header.type ?? 'file',
      mode: ((header.mode ?? 0) & 0o7777).toString(8),
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      ...(header.linkname ? { linkname: header.linkname } : {}),
      ...(header.type === 'file' ? { content: Buffer.concat(chunks).toString('utf8') } : {}),
      mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
    });
  }
  return entries;
}

/** Reads the entries of the layers that the build added on top of the image's base layers. */
export async function addedLayers(blobs: BlobStore, image: StoredImage, baseLayers = 1): Promise<LayerEntry[][]> {
  const layers: LayerEntry[][] = [];
  for (const descriptor of image.manifest.layers.slice(baseLayers)) layers.push(await readLayerEntries(blobs, descriptor.digest));
  return layers;
}

export function entryNames(entries: LayerEntry[]): string[] {
  return entries.map((entry) => entry.name);
}
