import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { SystemError, ValidationError } from '../errors.ts';
import { DOCKER_HUB } from '../oci/image-reference.ts';
import { basicAuthorization, parseAuthChallenge, tokenFromResponse, tokenRequestUrl, type RegistryCredentials } from './registry-auth.ts';

/** Docker Hub's image names use `docker.io`, but its distribution API is served from this host. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

export interface RegistrySessionOptions {
  /** Registry host as the image reference names it, with its port (`127.0.0.1:5000`). */
  registry: string;
  repository: string;
  credentials?: RegistryCredentials;
  /** Milliseconds to wait for a response's headers. */
  timeoutMs?: number;
  /** Milliseconds a response body may go without data before the download fails. */
  idleTimeoutMs?: number;
}

export interface RegistryResponse {
  status: number;
  headers: Headers;
  /** The URL of the final response, after redirects. */
  url: string;
  /** Streams the body; it fails with REGISTRY_TIMEOUT when data stops for `idleTimeoutMs`. */
  body(): Readable;
  /** Reads the whole body, failing with REGISTRY_RESPONSE_TOO_LARGE past `maxBytes`. */
  bytes(maxBytes: number): Promise<Buffer>;
  discard(): Promise<void>;
}

/** Returns whether a host is a loopback address, the only kind Slipway sends plain HTTP to. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Returns the base URL of a registry's API: HTTPS, except plain HTTP for a loopback registry. */
export function registryBaseUrl(registry: string): URL {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
  const probe = new URL(`http://${host}/`);
  return new URL(`${isLoopbackHost(probe.hostname) ? 'http' : 'https'}://${host}/`);
}

/**
 * HTTP requests to one repository of one registry, with the distribution spec's
 * authentication. After a 401 with a Bearer challenge it fetches a token from the
 * realm (with basic credentials when given) and retries once. After a Basic challenge
 * it sends the credentials. The authorization is kept for later requests and renewed
 * on the next 401. Redirects are followed by hand, so the authorization never goes to
 * another origin, such as the storage service that registries redirect blob downloads to.
 */
export class RegistrySession {
  readonly baseUrl: URL;
  private authorization: string | undefined;
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;

  constructor(private readonly options: RegistrySessionOptions) {
    this.baseUrl = registryBaseUrl(options.registry);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  }

  /** Sends a GET for `path` (relative to the registry's base URL), authenticating when challenged. */
  async get(path: string, accept: readonly string[] = []): Promise<RegistryResponse> {
    const url = new URL(path, this.baseUrl);
    const first = await this.send(url, accept, this.authorization);
    if (first.status !== 401) return first;

    const challenge = parseAuthChallenge(first.headers.get('www-authenticate'));
    await first.discard();
    const authorization = await this.authenticate(challenge);
    if (authorization === undefined) return this.send(url, accept, undefined);

    this.authorization = authorization;
    return this.send(url, accept, authorization);
  }

  private async authenticate(challenge: ReturnType<typeof parseAuthChallenge>): Promise<string | undefined> {
    const credentials = this.options.credentials;
    if (challenge?.scheme === 'basic') return credentials ? basicAuthorization(credentials) : undefined;
    if (challenge?.scheme !== 'bearer') return undefined;

    const tokenUrl = tokenRequestUrl(challenge, `repository:${this.options.repository}:pull`);
    const response = await this.send(tokenUrl, ['application/json'], credentials ? basicAuthorization(credentials) : undefined, tokenUrl);
    if (response.status !== 200) {
      await response.discard();
      throw new ValidationError(
        'REGISTRY_UNAUTHORIZED',
        `The token server ${tokenUrl.origin} refused a token for ${this.options.registry}/${this.options.repository} with status ${response.status}: check the registry credentials.`,
        { details: { registry: this.options.registry, status: response.status } },
      );
    }

    const body = await response.bytes(MAX_TOKEN_RESPONSE_BYTES);
    const token = tokenFromResponse(safeJson(body));
    if (!token) {
      throw new SystemError('REGISTRY_AUTH_INVALID', `The token server ${tokenUrl.origin} returned no token for ${this.options.registry}.`);
    }
    return `Bearer ${token}`;
  }

  /**
   * Sends one GET and follows redirects. The authorization goes only to `authOrigin`
   * (the registry by default); plain HTTP is allowed only for loopback hosts.
   */
  private async send(url: URL, accept: readonly string[], authorization: string | undefined, authOrigin: URL = this.baseUrl): Promise<RegistryResponse> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
      assertTransportAllowed(current);
      const headers: Record<string, string> = {};
      if (accept.length > 0) headers.accept = accept.join(', ');
      if (authorization && current.origin === authOrigin.origin) headers.authorization = authorization;

      const response = await this.fetchWithTimeout(current, headers);
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || !location) return response;

      await response.discard();
      current = new URL(location, current);
    }
    throw new SystemError('REGISTRY_REQUEST_FAILED', `${url.href} redirected more than ${MAX_REDIRECTS} times; check the registry address.`);
  }

  private async fetchWithTimeout(url: URL, headers: Record<string, string>): Promise<RegistryResponse> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, { headers, redirect: 'manual', signal: controller.signal });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new SystemError('REGISTRY_TIMEOUT', `${url.origin} did not respond to GET ${url.pathname} within ${this.timeoutMs} ms; check that the registry is reachable.`, {
          status: 504,
          cause: error,
        });
      }
      const reason = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new SystemError('REGISTRY_UNREACHABLE', `GET ${url.href} failed: ${reason?.code ?? reason?.message ?? String(error)}; check the registry address and that it is running.`, {
        status: 502,
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    return wrapResponse(url, response, controller, this.idleTimeoutMs);
  }
}

function wrapResponse(url: URL, response: Response, controller: AbortController, idleTimeoutMs: number): RegistryResponse {
  const body = (): Readable => {
    if (!response.body) return Readable.from([]);
    const source = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    const idle = idleTimeout(idleTimeoutMs, url, () => controller.abort());
    return pipeline(source, idle, () => {});
  };

  return {
    status: response.status,
    headers: response.headers,
    url: response.url || url.href,
    body,
    async bytes(maxBytes: number) {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of body()) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          controller.abort();
          throw new ValidationError('REGISTRY_RESPONSE_TOO_LARGE', `The response from ${url.href} is larger than ${maxBytes} bytes, the most Slipway reads for it.`);
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    },
    async discard() {
      await response.body?.cancel().catch(() => {});
    },
  };
}

/** Creates a pass-through that fails with REGISTRY_TIMEOUT when no chunk arrives for `milliseconds`. */
// NOTE: the timer also runs while the consumer applies backpressure, so a blob store
// slower than `milliseconds` per chunk (a slow S3 upload) would fail a healthy download.
function idleTimeout(milliseconds: number, url: URL, onTimeout: () => void): Transform {
  let timer: NodeJS.Timeout | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      arm();
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      clearTimeout(timer);
      callback();
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      onTimeout();
      stream.destroy(new SystemError('REGISTRY_TIMEOUT', `Download from ${url.href} stalled for ${milliseconds} ms; try the pull again.`, { status: 504 }));
    }, milliseconds);
  };
  arm();
  return stream;
}

function assertTransportAllowed(url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new ValidationError(
    'REGISTRY_INSECURE_URL',
    `Refusing ${url.href}: Slipway uses plain HTTP only for registries on loopback addresses, and HTTPS everywhere else.`,
  );
}

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
}
