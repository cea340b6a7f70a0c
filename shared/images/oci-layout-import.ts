import { readFile } from 'node:fs/promises';
import type { BlobStore } from '../blobs/blob-store.ts';
import { BlobDigestMismatchError, BlobTooLargeError } from '../blobs/blob-store.ts';
import { NotFoundError } from '../errors.ts';
import { assertSupportedLayer } from '../layers/layer-compression.ts';
import { digestHex, isDigest, sha256Digest, type Digest } from '../oci/digest.ts';
import { formatImageReference, parseImageReference, repositoryName, type ImageReference } from '../oci/image-reference.ts';
import type { Descriptor, ImageIndex, ImageManifest } from '../oci/image-types.ts';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../oci/media-types.ts';
import { DEFAULT_PLATFORM, selectPlatformManifest } from '../registry/platform.ts';
import type { ArchiveFolder } from './archive-folder.ts';
import { ImageArchiveInvalidError } from './image-archive-error.ts';

/** OCI image spec annotation for a manifest's name in an image layout's index.json. */
const REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd and BuildKit write the full image name here. */
const CONTAINERD_NAME = 'io.containerd.image.name';
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

export interface ArchiveImportContext {
  folder: ArchiveFolder;
  reference: ImageReference;
  blobs: BlobStore;
  workDir: string;
}

/**
 * Stores the image of an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/*`)
 * and returns its manifest digest. Every blob is verified against its digest as it is
 * stored, and the manifest keeps its bytes, so the digest matches the source.
 */
export async function importOciLayout(context: ArchiveImportContext): Promise<Digest> {
  const index = (await readJson(context, 'index.json')) as ImageIndex;
  if (!Array.isArray(index.manifests)) throw new ImageArchiveInvalidError('index.json has no manifests list');

  let descriptor = chooseManifest(index.manifests, context.reference);
  if (INDEX_MEDIA_TYPES.includes(descriptor.mediaType)) {
    const nested = JSON.parse((await readBlobFile(context, descriptor)).toString('utf8')) as ImageIndex;
    descriptor = selectPlatformManifest(nested, DEFAULT_PLATFORM, `The archived image ${descriptor.digest}`);
  }

  const manifestBytes = await readBlobFile(context, descriptor);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
  if (!manifest.config || !Array.isArray(manifest.layers) || (manifest.mediaType && !MANIFEST_MEDIA_TYPES.includes(manifest.mediaType))) {
    throw new ImageArchiveInvalidError(`blob ${descriptor.digest} is not an image manifest`);
  }
  for (const layer of manifest.layers) assertSupportedLayer(layer, `the archived image ${descriptor.digest}`);

  for (const blob of [manifest.config, ...manifest.layers]) await storeBlobFile(context, blob);
  await storeBlobFile(context, descriptor);
  return descriptor.digest;
}

/** Chooses the only manifest, or the one whose name annotation matches the reference's tag or full name. */
function chooseManifest(manifests: Descriptor[], reference: ImageReference): Descriptor {
  if (manifests.length === 1 && manifests[0]) return manifests[0];

  const wanted = `${repositoryName(reference)}:${reference.tag ?? 'latest'}`;
  const matches = manifests.filter((descriptor) => {
    const names = [descriptor.annotations?.[REF_NAME], descriptor.annotations?.[CONTAINERD_NAME]].filter((name): name is string => Boolean(name));
    return names.some((name) => name === reference.tag || normalizedName(name) === wanted);
  });
  if (matches.length === 1 && matches[0]) return matches[0];

  const offered = manifests.map((descriptor) => descriptor.annotations?.[REF_NAME] ?? descriptor.digest).join(', ');
  throw new NotFoundError(
    'IMAGE_ARCHIVE_AMBIGUOUS',
    `The archive holds ${manifests.length} images (${offered || 'none'}) and none is named ${formatImageReference(reference)}: pass the name or tag of one of them.`,
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

async function readJson(context: ArchiveImportContext, name: string): Promise<unknown> {
  const file = await context.folder.resolve(name);
  if (!file) throw new ImageArchiveInvalidError(`${name} is missing`);
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ImageArchiveInvalidError(`${name} is not valid JSON`, { cause: error });
  }
}

function blobName(descriptor: Descriptor): string {
  if (!isDigest(descriptor.digest)) throw new ImageArchiveInvalidError(`${JSON.stringify(descriptor.digest)} is not a sha256 digest`);
  return `blobs/sha256/${digestHex(descriptor.digest)}`;
}

/** Reads a small blob (an index or manifest) and checks its digest. */
async function readBlobFile(context: ArchiveImportContext, descriptor: Descriptor): Promise<Buffer> {
  const file = await context.folder.resolve(blobName(descriptor));
  if (!file) throw new ImageArchiveInvalidError(`blob ${descriptor.digest} is missing`);
  const bytes = await readFile(file);
  if (bytes.length > MAX_DOCUMENT_BYTES) throw new ImageArchiveInvalidError(`blob ${descriptor.digest} is larger than ${MAX_DOCUMENT_BYTES} bytes`);
  if (sha256Digest(bytes) !== descriptor.digest) throw new ImageArchiveInvalidError(`blob ${descriptor.digest} does not match its digest`);
  return bytes;
}

async function storeBlobFile(context: ArchiveImportContext, descriptor: Descriptor): Promise<void> {
  const file = await context.folder.resolve(blobName(descriptor));
  if (!file) throw new ImageArchiveInvalidError(`blob ${descriptor.digest} is missing`);
  try {
    await context.blobs.putFile(file, { expectedDigest: descriptor.digest, maxBytes: descriptor.size });
  } catch (error) {
    if (error instanceof BlobDigestMismatchError || error instanceof BlobTooLargeError) {
      throw new ImageArchiveInvalidError(`blob ${descriptor.digest} does not match its digest or size`, { cause: error });
    }
    throw error;
  }
}
