import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { readBlob, type BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Database } from '../../shared/db/database.ts';
import type { Logger } from '../../shared/logger.ts';
import { isDigest, sha256Digest, type Digest } from '../../shared/oci/digest.ts';
import { DEFAULT_PLATFORM } from '../../shared/registry/platform.ts';
import { MAX_MANIFEST_BYTES, parseManifest, readStoredManifest, type ManifestDocument } from './manifest-document.ts';
import { readBody } from './request-body-bytes.ts';
import { RegistryError } from './registry-errors.ts';
import { isValidTag } from './registry-names.ts';
import { resolveTag, setPushedTag, type Repository } from './repositories.ts';

export interface ManifestDeps {
  db: Database;
  blobs: BlobStore;
  log: Logger;
}

export interface StoredManifest {
  digest: Digest;
  bytes: Buffer;
  document: ManifestDocument;
}

/** Reads a manifest blob, or returns null when the digest names no blob or a blob that is not a manifest. */
export async function loadManifest(blobs: BlobStore, digest: Digest): Promise<StoredManifest | null> {
  const stat = await blobs.stat(digest);
  if (!stat || stat.size > MAX_MANIFEST_BYTES) return null;

  const bytes = await readBlob(blobs, digest);
  const document = readStoredManifest(bytes);
  return document ? { digest, bytes, document } : null;
}

/** GET and HEAD of `/v2/<name>/manifests/<reference>`: the stored bytes, exactly as pushed or built. */
export async function getManifest(c: Context, deps: ManifestDeps, repository: Repository, reference: string): Promise<Response> {
  const digest = isDigest(reference) ? reference : isValidTag(reference) ? await resolveTag(deps.db, repository, reference) : null;
  const stored = digest ? await loadManifest(deps.blobs, digest) : null;
  if (!stored) {
    throw new RegistryError('MANIFEST_UNKNOWN', `Manifest ${JSON.stringify(reference)} is unknown in repository ${repository.name}: list its tags at /v2/${repository.name}/tags/list.`, {
      detail: { name: repository.name, reference },
    });
  }

  const served = await negotiate(deps.blobs, stored, c.req.header('accept'), reference);
  c.header('Content-Type', served.document.mediaType);
  c.header('Docker-Content-Digest', served.digest);
  c.header('Content-Length', String(served.bytes.length));
  c.header('ETag', `"${served.digest}"`);
  if (c.req.method === 'HEAD') return c.body(null, 200);
  return c.body(new Uint8Array(served.bytes), 200);
}

/**
 * Picks what to serve for the Accept header. The stored bytes are served unchanged when
 * the client accepts their type, and when it sends no Accept header or accepts any type. A client that
 * does not accept an index gets its linux/amd64 manifest, as Docker's registry does.
 * Converting between OCI and Docker types would change the digest, so it is never done.
 */
async function negotiate(blobs: BlobStore, stored: StoredManifest, acceptHeader: string | undefined, reference: string): Promise<StoredManifest> {
  const accepted = acceptedTypes(acceptHeader);
  if (accepted === null || accepted.includes(stored.document.mediaType)) return stored;

  if (stored.document.kind === 'index') {
    const platformEntry = stored.document.manifests.find(
      (entry) => entry.platform?.os === DEFAULT_PLATFORM.os && entry.platform?.architecture === DEFAULT_PLATFORM.architecture,
    );
    const child = platformEntry ? await loadManifest(blobs, platformEntry.digest) : null;
    if (child && accepted.includes(child.document.mediaType)) return child;
  }
  throw new RegistryError(
    'MANIFEST_UNKNOWN',
    `Manifest ${JSON.stringify(reference)} is stored as ${stored.document.mediaType}, which the Accept header does not list: accept that media type.`,
    { detail: { mediaType: stored.document.mediaType, accepted } },
  );
}

/** Lists the media types of an Accept header, or returns null when any type is accepted. */
function acceptedTypes(header: string | undefined): string[] | null {
  if (!header) return null;
  const types = header.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase()).filter(Boolean);
  if (types.length === 0 || types.includes('*/*')) return null;
  return types;
}

/**
 * PUT of `/v2/<name>/manifests/<reference>`. The manifest must be valid, hash to the
 * digest when pushed by digest, and reference only blobs that are stored with the sizes
 * it gives. Nothing is stored or tagged otherwise.
 */
export async function putManifest(c: Context, deps: ManifestDeps, repository: Repository, reference: string): Promise<Response> {
  const byDigest = isDigest(reference);
  if (!byDigest && !isValidTag(reference)) {
    throw new RegistryError('MANIFEST_INVALID', `Tag ${JSON.stringify(reference)} is invalid: use 1-128 letters, digits, "_", "." or "-", not starting with "." or "-".`, {
      detail: { reference },
    });
  }

  const bytes = await readBody(c, MAX_MANIFEST_BYTES, 'The manifest');
  const digest = sha256Digest(bytes);
  if (byDigest && reference !== digest) {
    throw new RegistryError('DIGEST_INVALID', `The manifest hashes to ${digest}, not the ${reference} it was pushed as.`, { detail: { expected: reference, actual: digest } });
  }
  const document = parseManifest(bytes, c.req.header('content-type'));
  await checkReferences(deps.blobs, document);

  await deps.blobs.put(Readable.from([bytes]), { expectedDigest: digest });
  if (!byDigest) await setPushedTag(deps.db, repository, reference, digest);
  deps.log.info({ repository: repository.name, reference, digest, mediaType: document.mediaType }, 'manifest pushed');

  c.header('Location', `/v2/${repository.name}/manifests/${digest}`);
  c.header('Docker-Content-Digest', digest);
  return c.body(null, 201);
}

async function checkReferences(blobs: BlobStore, document: ManifestDocument): Promise<void> {
  for (const descriptor of document.references) {
    const stat = await blobs.stat(descriptor.digest);
    if (!stat) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `The manifest references ${descriptor.digest}, which is not in the registry: push that blob first.`, {
        detail: { digest: descriptor.digest },
      });
    }
    if (stat.size !== descriptor.size) {
      throw new RegistryError('MANIFEST_INVALID', `The manifest gives ${descriptor.digest} a size of ${descriptor.size} bytes, but the stored blob has ${stat.size}.`, {
        detail: { digest: descriptor.digest, size: descriptor.size, storedSize: stat.size },
      });
    }
  }
}
