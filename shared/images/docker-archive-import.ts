import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { NotFoundError } from '../errors.ts';
import { LAYER_GZIP_LEVEL } from '../layers/layer-writer.ts';
import { detectCompression, openUncompressed, UnsupportedCompressionError } from '../layers/layer-compression.ts';
import { DigestingStream, sha256Digest, type Digest } from '../oci/digest.ts';
import { formatImageReference, parseImageReference, repositoryName, type ImageReference } from '../oci/image-reference.ts';
import type { Descriptor, ImageConfig, ImageManifest } from '../oci/image-types.ts';
import { MediaType } from '../oci/media-types.ts';
import { ImageArchiveInvalidError } from './image-archive-error.ts';
import type { ArchiveImportContext } from './oci-layout-import.ts';

/** One image of a docker-archive's manifest.json, as `docker save` and skopeo write it. */
interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Stores the image of a docker-archive and returns its manifest digest. Uncompressed
 * layers are gzipped at Slipway's fixed level; each layer's diff_id is checked against
 * the config. Docker archives carry no manifest, so a new OCI manifest is written.
 */
export async function importDockerArchive(context: ArchiveImportContext): Promise<Digest> {
  const entry = chooseEntry(await readManifestJson(context), context.reference);
  const configBytes = await readConfig(context, entry.Config);
  const config = parseConfig(configBytes, entry);

  const layers: Descriptor[] = [];
  for (const [index, layerPath] of entry.Layers.entries()) {
    layers.push(await storeLayer(context, layerPath, config.rootfs.diff_ids[index] as Digest));
  }

  const configBlob = await context.blobs.put(Readable.from([configBytes]), { expectedDigest: sha256Digest(configBytes) });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers,
  };
  const stored = await context.blobs.put(Readable.from([Buffer.from(JSON.stringify(manifest))]));
  return stored.digest;
}

async function readManifestJson(context: ArchiveImportContext): Promise<DockerArchiveEntry[]> {
  const file = await context.folder.resolve('manifest.json');
  if (!file) throw new ImageArchiveInvalidError('manifest.json is missing');

  let entries: unknown;
  try {
    entries = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ImageArchiveInvalidError('manifest.json is not valid JSON', { cause: error });
  }
  const valid = Array.isArray(entries) && entries.every((item) => typeof item?.Config === 'string' && Array.isArray(item?.Layers));
  if (!valid) throw new ImageArchiveInvalidError('manifest.json is not a list of images with Config and Layers');
  return entries as DockerArchiveEntry[];
}

/** Chooses the only image, or the one with a RepoTag that names the same repository and tag. */
function chooseEntry(entries: DockerArchiveEntry[], reference: ImageReference): DockerArchiveEntry {
  if (entries.length === 1 && entries[0]) return entries[0];

  const wanted = `${repositoryName(reference)}:${reference.tag ?? 'latest'}`;
  const matches = entries.filter((entry) => (entry.RepoTags ?? []).some((tag) => normalizedName(tag) === wanted));
  if (matches.length === 1 && matches[0]) return matches[0];

  const offered = entries.flatMap((entry) => entry.RepoTags ?? []).join(', ');
  throw new NotFoundError(
    'IMAGE_ARCHIVE_AMBIGUOUS',
    `The archive holds ${entries.length} images (${offered || 'none tagged'}) and none is named ${formatImageReference(reference)}: pass the name of one of them.`,
  );
}

function normalizedName(name: string): string | null {
  try {
    const parsed = parseImageReference(name);
    return `${repositoryName(parsed)}:${parsed.tag ?? 'latest'}`;
  } catch {
    return null;
  }
}

/** Reads the config; when its file name carries a digest (`<hex>.json`, `blobs/sha256/<hex>`), the content must match it. */
async function readConfig(context: ArchiveImportContext, name: string): Promise<Buffer> {
  const file = await context.folder.resolve(name);
  if (!file) throw new ImageArchiveInvalidError(`the config ${name} is missing`);
  const bytes = await readFile(file);
  if (bytes.length > MAX_CONFIG_BYTES) throw new ImageArchiveInvalidError(`the config ${name} is larger than ${MAX_CONFIG_BYTES} bytes`);

  const named = path.posix.basename(name).match(/^([a-f0-9]{64})(\.json)?$/)?.[1];
  if (named && sha256Digest(bytes) !== `sha256:${named}`) throw new ImageArchiveInvalidError(`the config ${name} does not match the digest in its name`);
  return bytes;
}

function parseConfig(bytes: Buffer, entry: DockerArchiveEntry): ImageConfig {
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (error) {
    throw new ImageArchiveInvalidError(`the config ${entry.Config} is not valid JSON`, { cause: error });
  }
  if (config.rootfs?.diff_ids?.length !== entry.Layers.length) {
    throw new ImageArchiveInvalidError(`manifest.json lists ${entry.Layers.length} layers but the config has ${config.rootfs?.diff_ids?.length ?? 0} diff_ids`);
  }
  return config;
}

/**
 * Stores one layer as gzip and checks its diff_id. A gzip layer is stored as it is; a
 * plain tar is compressed into a temporary file first, so no layer is held in memory.
 */
async function storeLayer(context: ArchiveImportContext, layerPath: string, expectedDiffId: Digest): Promise<Descriptor> {
  const file = await context.folder.resolve(layerPath);
  if (!file) throw new ImageArchiveInvalidError(`the layer ${layerPath} is missing`);

  const head = await readHead(file);
  const compression = detectCompression(head);
  if (compression === 'zstd') throw new UnsupportedCompressionError(`Layer ${layerPath}`, 'zstd');

  const uncompressed = new DigestingStream();
  let gzipFile = file;
  if (compression === 'gzip') {
    await pipeline(await openUncompressed(createReadStream(file), `Layer ${layerPath}`), uncompressed, devNull());
  } else {
    gzipFile = path.join(context.workDir, `layer-${randomUUID()}.tar.gz`);
    await pipeline(createReadStream(file), uncompressed, createGzip({ level: LAYER_GZIP_LEVEL }), createWriteStream(gzipFile));
  }
  try {
    if (uncompressed.digest() !== expectedDiffId) {
      throw new ImageArchiveInvalidError(`the layer ${layerPath} hashes to ${uncompressed.digest()}, not the diff_id ${expectedDiffId} in the config`);
    }
    const stored = await context.blobs.putFile(gzipFile);
    return { mediaType: MediaType.ociLayerGzip, digest: stored.digest, size: stored.size };
  } finally {
    if (gzipFile !== file) await rm(gzipFile, { force: true });
  }
}

async function readHead(file: string): Promise<Buffer> {
  for await (const chunk of createReadStream(file, { start: 0, end: 7 })) return chunk as Buffer;
  return Buffer.alloc(0);
}

/** Creates a sink that drops what it receives, for reading a stream only to hash it. */
function devNull(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}
