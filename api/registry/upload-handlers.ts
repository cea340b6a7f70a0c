import type { Context } from 'hono';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Logger } from '../../shared/logger.ts';
import { isDigest, type Digest } from '../../shared/oci/digest.ts';
import { parseBlobDigest } from './blob-handlers.ts';
import { RegistryError } from './registry-errors.ts';
import { requestStream } from './request-body-bytes.ts';
import type { Repository } from './repositories.ts';
import { uploadHeaders, type UploadSession, type UploadSessions } from './upload-sessions.ts';

export interface UploadDeps {
  blobs: BlobStore;
  uploads: UploadSessions;
  log: Logger;
  /** Largest blob a push may store, in bytes (SLIPWAY_REGISTRY_MAX_BLOB_BYTES). */
  maxBlobBytes: number;
}

/**
 * POST of `/v2/<name>/blobs/uploads/`. With `?mount=<digest>&from=<name>` and a stored blob
 * that the client may read, the blob is mounted at once (201). With `?digest=`, the body
 * is the whole blob (201). Otherwise a new upload starts (202) for PATCH and PUT.
 */
export async function startUpload(
  c: Context,
  deps: UploadDeps,
  repository: Repository,
  mayMount: (from: string, digest: Digest) => Promise<boolean>,
): Promise<Response> {
  // TODO: one blob is limited to maxBlobBytes, but an owner has no quota and unreferenced
  // blobs are never collected, so a token holder can still fill the blob store.
  const mount = c.req.query('mount');
  const from = c.req.query('from');
  if (mount && isDigest(mount) && from && (await mayMount(from, mount)) && (await deps.blobs.stat(mount))) {
    deps.log.info({ repository: repository.name, digest: mount, from }, 'blob mounted');
    return blobCreated(c, repository, mount);
  }

  const digestParameter = c.req.query('digest');
  if (digestParameter !== undefined) {
    const digest = parseBlobDigest(digestParameter);
    const stored = await deps.blobs.put(requestStream(c), { expectedDigest: digest, maxBytes: deps.maxBlobBytes });
    deps.log.info({ repository: repository.name, digest, bytes: stored.size }, 'blob uploaded');
    return blobCreated(c, repository, digest);
  }

  const session = await deps.uploads.create(repository.name);
  return withHeaders(c, uploadHeaders(session, 0), 202);
}

/** GET of an upload: how many bytes it has, so a client can resume it. */
export async function uploadStatus(c: Context, deps: UploadDeps, session: UploadSession): Promise<Response> {
  return withHeaders(c, uploadHeaders(session, await deps.uploads.size(session)), 204);
}

/** PATCH of an upload: appends a chunk. A `Content-Range` must start where the upload ends. */
export async function appendChunk(c: Context, deps: UploadDeps, session: UploadSession): Promise<Response> {
  const size = await deps.uploads.append(session, requestStream(c), parseContentRange(c.req.header('content-range')));
  return withHeaders(c, uploadHeaders(session, size), 202);
}

/**
 * PUT of an upload with `?digest=`: appends the body, if any, and stores the blob once it
 * hashes to the digest. The upload ends either way; a mismatch leaves nothing stored.
 */
export async function finishUpload(c: Context, deps: UploadDeps, repository: Repository, session: UploadSession): Promise<Response> {
  const digest = parseBlobDigest(c.req.query('digest') ?? '');
  if (c.req.raw.body) await deps.uploads.append(session, requestStream(c), parseContentRange(c.req.header('content-range')));

  // TODO: the local blob store copies the upload file once more while it hashes it. Linking
  // the file into place would save that write (a chunked 256 MiB push measured 75 MiB/s).
  const stored = await deps.uploads.complete(session, (dataPath) => deps.blobs.putFile(dataPath, { expectedDigest: digest }));
  deps.log.info({ repository: repository.name, uploadId: session.id, digest, bytes: stored.size }, 'blob uploaded');
  return blobCreated(c, repository, digest);
}

/** DELETE of an upload: cancels it and removes its data. */
export async function cancelUpload(c: Context, deps: UploadDeps, session: UploadSession): Promise<Response> {
  await deps.uploads.remove(session);
  deps.log.info({ uploadId: session.id, repository: session.repository }, 'blob upload cancelled');
  return c.body(null, 204);
}

/** Reads `Content-Range: <start>-<end>` (inclusive) of a chunk; absent means the chunk follows what arrived. */
export function parseContentRange(header: string | undefined): { start: number; length: number } | undefined {
  if (!header) return undefined;

  const match = /^(?:bytes[= ])?(\d+)-(\d+)(?:\/\d+|\/\*)?$/.exec(header.trim());
  if (!match || Number(match[2]) < Number(match[1])) {
    throw new RegistryError('BLOB_UPLOAD_INVALID', `Content-Range ${JSON.stringify(header)} is invalid: send "<start>-<end>" with inclusive byte offsets.`, {
      status: 416,
      detail: { contentRange: header },
    });
  }
  return { start: Number(match[1]), length: Number(match[2]) - Number(match[1]) + 1 };
}

function blobCreated(c: Context, repository: Repository, digest: Digest): Response {
  return withHeaders(c, { Location: `/v2/${repository.name}/blobs/${digest}`, 'Docker-Content-Digest': digest }, 201);
}

function withHeaders(c: Context, headers: Record<string, string>, status: 201 | 202 | 204): Response {
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  c.header('Content-Length', '0');
  return c.body(null, status);
}
