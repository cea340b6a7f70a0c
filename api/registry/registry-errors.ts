import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BlobDigestMismatchError, BlobTooLargeError } from '../../shared/blobs/blob-store.ts';
import { isSlipwayError, SlipwayError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';

/**
 * Error codes of the OCI distribution spec v1.1, each with the HTTP status this registry
 * sends it with unless a handler picks another. Clients switch on the code.
 */
export const REGISTRY_ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
} as const;

export type RegistryErrorCode = keyof typeof REGISTRY_ERROR_STATUS;

/**
 * A failure that the registry reports in the distribution spec's format,
 * `{"errors": [{"code", "message", "detail"}]}`, instead of the `/v1` format.
 */
export class RegistryError extends SlipwayError {
  /** Response headers the error needs, such as a `WWW-Authenticate` challenge. */
  readonly headers: Record<string, string>;

  constructor(
    readonly registryCode: RegistryErrorCode,
    message: string,
    options: { detail?: Record<string, unknown>; status?: number; headers?: Record<string, string> } = {},
  ) {
    super(`REGISTRY_${registryCode}`, message, {
      kind: 'user',
      status: options.status ?? REGISTRY_ERROR_STATUS[registryCode],
      details: options.detail,
    });
    this.headers = options.headers ?? {};
  }
}

/** Headers that every registry response carries, errors included. */
export const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' } as const;

/**
 * Turns anything a registry handler throws into a spec error response. A blob that did not
 * hash to its digest becomes DIGEST_INVALID, one over the size limit 413 SIZE_INVALID. Another user error keeps its message under
 * the closest spec code. A fault of ours is logged and sent as a 500 without internals.
 */
export function handleRegistryError(error: Error, c: Context, log: Logger): Response {
  const registryError = toRegistryError(error);
  if (!registryError) {
    log.error({ err: error, method: c.req.method, path: c.req.path }, 'registry request failed');
    return errorResponse(c, 500, 'UNKNOWN', 'The registry failed to handle the request; see the server log.', {}, {});
  }
  if (registryError.status >= 500) log.error({ err: error, path: c.req.path }, 'registry request failed');
  return errorResponse(c, registryError.status, registryError.registryCode, registryError.message, registryError.details, registryError.headers);
}

function toRegistryError(error: Error): RegistryError | null {
  if (error instanceof RegistryError) return error;
  if (error instanceof BlobDigestMismatchError) {
    return new RegistryError('DIGEST_INVALID', error.message, { detail: error.details });
  }
  if (error instanceof BlobTooLargeError) {
    return new RegistryError('SIZE_INVALID', `${error.message} Push a smaller blob, or raise SLIPWAY_REGISTRY_MAX_BLOB_BYTES on the server.`, {
      detail: error.details,
      status: 413,
    });
  }
  if (isSlipwayError(error) && error.kind === 'user') {
    let code: RegistryErrorCode = 'DENIED';
    if (error.status === 404) code = 'NAME_UNKNOWN';
    if (error.status === 401) code = 'UNAUTHORIZED';
    return new RegistryError(code, error.message, { detail: { code: error.code, ...error.details }, status: error.status });
  }
  return null;
}

function errorResponse(
  c: Context,
  status: number,
  code: string,
  message: string,
  detail: Record<string, unknown>,
  headers: Record<string, string>,
): Response {
  for (const [name, value] of Object.entries({ ...API_VERSION_HEADER, ...headers })) c.header(name, value);
  const body = { errors: [{ code, message, detail }] };
  // A HEAD response has no body, so its status and headers carry the whole error.
  if (c.req.method === 'HEAD') return c.body(null, status as ContentfulStatusCode);
  return c.json(body, status as ContentfulStatusCode);
}
