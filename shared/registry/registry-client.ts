import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobDigestMismatchError, BlobTooLargeError, readBlob, type BlobStore } from '../blobs/blob-store.ts';
import { NotFoundError, SystemError, ValidationError } from '../errors.ts';
import type { ImageStore } from '../images/image-store.ts';
import { assertSupportedLayer } from '../layers/layer-compression.ts';
import { createLogger } from '../logger.ts';
import type { Digest } from '../oci/digest.ts';
import { formatImageReference, type ImageReference } from '../oci/image-reference.ts';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform, StoredImage } from '../oci/image-types.ts';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from '../oci/media-types.ts';
import { DEFAULT_PLATFORM, selectPlatformManifest } from './platform.ts';
import type { RegistryCredentials } from './registry-auth.ts';
import { RegistrySession, type RegistryResponse } from './registry-http.ts';

const log = createLogger('registry-client');

/** containerd reads at most 4 MiB of a manifest; so does Slipway. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MANIFEST_ACCEPT = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

export interface PullDependencies {
  images: ImageStore;
  /** Basic credentials for the registry or its token server, sent when a 401 challenge requests them. */
  credentials?: RegistryCredentials;
  platform?: Platform;
  /** Milliseconds to wait for each response's headers; default 30 s. */
  timeoutMs?: number;
  /** Milliseconds a download may stall before it fails; default 60 s. */
  idleTimeoutMs?: number;
  /** Blobs downloaded at once; default 3. */
  concurrency?: number;
}

export interface PullResult {
  image: StoredImage;
  /** Blobs fetched from the registry. */
  downloaded: Digest[];
  /** Blobs that were in the blob store already and were not fetched again. */
  reused: Digest[];
}

interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
  document: Record<string, unknown>;
}

/**
 * Pulls an image through the OCI distribution API into the blob and image stores and
 * tags it when the reference has a tag. An index or manifest list is resolved to the
 * platform (linux/amd64 by default). The manifest is stored as the registry served it,
 * so its digest matches, and only after its config and layers are stored and verified.
 */
export async function pullImage(reference: ImageReference, deps: PullDependencies): Promise<PullResult> {
  const referenceText = formatImageReference(reference);
  const session = new RegistrySession({
    registry: reference.registry,
    repository: reference.repository,
    credentials: deps.credentials,
    timeoutMs: deps.timeoutMs,
    idleTimeoutMs: deps.idleTimeoutMs,
  });
  log.info({ reference: referenceText, registry: session.baseUrl.host }, 'pull started');

  let fetched = await fetchManifest(session, reference, reference.digest ?? reference.tag ?? 'latest', reference.digest);
  if (INDEX_MEDIA_TYPES.includes(fetched.mediaType)) {
    const chosen = selectPlatformManifest(fetched.document as unknown as ImageIndex, deps.platform ?? DEFAULT_PLATFORM, `Image ${referenceText}`);
    fetched = await fetchManifest(session, reference, chosen.digest, chosen.digest);
  }
  const manifest = asImageManifest(fetched, referenceText);
  for (const layer of manifest.layers) assertSupportedLayer(layer, referenceText);

  const blobs = deps.images.blobs;
  const downloaded: Digest[] = [];
  const reused: Digest[] = [];
  const fetchBlob = async (descriptor: Descriptor) => {
    const fetchedNow = await downloadBlob(session, blobs, reference, descriptor);
    (fetchedNow ? downloaded : reused).push(descriptor.digest);
  };

  await fetchBlob(manifest.config);
  const config = JSON.parse((await readBlob(blobs, manifest.config.digest)).toString('utf8')) as ImageConfig;
  if (config.rootfs?.diff_ids?.length !== manifest.layers.length) {
    throw new ValidationError(
      'IMAGE_CONFIG_INVALID',
      `Image ${referenceText} lists ${manifest.layers.length} layers but its config has ${config.rootfs?.diff_ids?.length ?? 0} diff_ids; the image is broken.`,
    );
  }
  await runLimited(manifest.layers, deps.concurrency ?? 3, fetchBlob);

  // NOTE: only the platform manifest is stored, not the index it came from, so a later
  // `images.resolve` of a reference by index digest finds nothing; the result names the manifest.
  await blobs.put(Readable.from([fetched.bytes]), { expectedDigest: fetched.digest });
  if (reference.tag) await deps.images.tag(reference, fetched.digest);
  const image = await deps.images.getImage(fetched.digest);
  log.info({ reference: referenceText, digest: image.digest, downloaded: downloaded.length, reused: reused.length }, 'pull finished');
  return { image, downloaded, reused };
}

async function fetchManifest(session: RegistrySession, reference: ImageReference, tagOrDigest: string, expectedDigest: Digest | undefined): Promise<FetchedManifest> {
  const response = await session.get(`/v2/${reference.repository}/manifests/${tagOrDigest}`, MANIFEST_ACCEPT);
  await assertOk(response, reference, `manifest ${tagOrDigest}`);

  const bytes = await response.bytes(MAX_MANIFEST_BYTES);
  const digest: Digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const announced = response.headers.get('docker-content-digest');
  const expected = expectedDigest ?? (announced?.startsWith('sha256:') ? (announced as Digest) : undefined);
  if (expected && expected !== digest) {
    throw new ValidationError(
      'REGISTRY_DIGEST_MISMATCH',
      `Manifest ${tagOrDigest} of ${formatImageReference(reference)} hashes to ${digest}, not ${expected}; the registry served corrupt or tampered data.`,
      { details: { expected, actual: digest } },
    );
  }

  let document: Record<string, unknown>;
  try {
    document = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ValidationError('REGISTRY_MANIFEST_INVALID', `Manifest ${tagOrDigest} of ${formatImageReference(reference)} is not valid JSON.`, { cause: error });
  }
  return { bytes, digest, mediaType: manifestMediaType(document, response.headers.get('content-type')), document };
}

/** Returns the media type from the document, else from Content-Type, else from its shape (OCI documents may omit it). */
function manifestMediaType(document: Record<string, unknown>, contentType: string | null): string {
  if (typeof document.mediaType === 'string') return document.mediaType;

  const fromHeader = contentType?.split(';')[0]?.trim() ?? '';
  if (MANIFEST_ACCEPT.includes(fromHeader)) return fromHeader;
  if (Array.isArray(document.manifests)) return MediaType.ociIndex;
  return fromHeader;
}

function asImageManifest(fetched: FetchedManifest, referenceText: string): ImageManifest {
  const document = fetched.document;
  const looksLikeManifest = typeof document.config === 'object' && Array.isArray(document.layers);
  if (document.schemaVersion !== 2 || !looksLikeManifest || (fetched.mediaType && !MANIFEST_MEDIA_TYPES.includes(fetched.mediaType))) {
    throw new ValidationError(
      'REGISTRY_MANIFEST_UNSUPPORTED',
      `Image ${referenceText} has a manifest of type ${fetched.mediaType || 'unknown'} (schemaVersion ${String(document.schemaVersion)}); Slipway reads OCI and Docker schema 2 manifests only.`,
    );
  }
  return document as unknown as ImageManifest;
}

/** Downloads one blob unless it is stored already; returns whether it was downloaded. */
async function downloadBlob(session: RegistrySession, blobs: BlobStore, reference: ImageReference, descriptor: Descriptor): Promise<boolean> {
  if (await blobs.stat(descriptor.digest)) return false;

  // TODO: a failed or interrupted download fails the pull; there is no retry and no
  // resume with Range requests, which costs a full re-download of large layers.
  const response = await session.get(`/v2/${reference.repository}/blobs/${descriptor.digest}`);
  await assertOk(response, reference, `blob ${descriptor.digest}`);
  try {
    await blobs.put(response.body(), { expectedDigest: descriptor.digest, maxBytes: descriptor.size });
  } catch (error) {
    if (error instanceof BlobDigestMismatchError || error instanceof BlobTooLargeError) {
      throw new ValidationError(
        'REGISTRY_BLOB_DIGEST_MISMATCH',
        `Blob ${descriptor.digest} of ${formatImageReference(reference)} from ${session.baseUrl.host} does not match its digest or size (${error.message}); nothing of it was stored.`,
        { cause: error, details: { digest: descriptor.digest } },
      );
    }
    throw error;
  }
  log.info({ digest: descriptor.digest, size: descriptor.size }, 'blob downloaded');
  return true;
}

async function assertOk(response: RegistryResponse, reference: ImageReference, resource: string): Promise<void> {
  if (response.status === 200) return;
  await response.discard();

  const name = formatImageReference(reference);
  const details = { reference: name, status: response.status };
  if (response.status === 404) {
    throw new NotFoundError('IMAGE_NOT_FOUND', `Image ${name} was not found in its registry (GET of ${resource} returned 404): check the name and tag.`, { details });
  }
  if (response.status === 401) {
    throw new ValidationError('REGISTRY_UNAUTHORIZED', `The registry rejected the request for ${name} with 401 Unauthorized: the repository may not exist, or it needs credentials that may pull it.`, { details });
  }
  if (response.status === 403) {
    throw new ValidationError('REGISTRY_FORBIDDEN', `The registry rejected the request for ${name} with 403 Forbidden: use credentials that may pull this repository.`, { details });
  }
  throw new SystemError('REGISTRY_REQUEST_FAILED', `Fetching ${resource} of ${name} failed with HTTP status ${response.status}; try again later.`, { status: 502, details });
}

/** Runs `task` over `items` with at most `limit` running at once; the first failure is thrown after all settle. */
async function runLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && errors.length === 0) {
      const item = items[next] as T;
      next += 1;
      await task(item).catch((error: unknown) => errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
