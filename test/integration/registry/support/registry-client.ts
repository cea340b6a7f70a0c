import { readFile } from 'node:fs/promises';
import type { Digest } from '../../../../shared/oci/digest.ts';
import { sha256Digest } from '../../../../shared/oci/digest.ts';
import type { Descriptor } from '../../../../shared/oci/image-types.ts';

/** Sends one request to a registry; `path` starts with `/v2/`. */
export type Send = (method: string, path: string, init?: { body?: Buffer | string; headers?: Record<string, string> }) => Promise<Response>;

/** Makes a Send that calls a hono app in process, with `authorization` on every request unless a request sets its own. */
export function inProcessSender(app: { request(url: string, init: RequestInit): Response | Promise<Response> }, authorization?: string): Send {
  return async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...(authorization ? { authorization } : {}), ...init.headers };
    let body: BodyInit | undefined;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body) body = new Uint8Array(init.body);
    return app.request(`http://localhost${path}`, { method, headers, body });
  };
}

export function basicAuth(password: string, user = 'anyone'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Pushes a blob with one POST and one PUT carrying the whole body; throws unless the registry returns 201. */
export async function pushBlob(send: Send, name: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256Digest(bytes);
  const response = await send('POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (response.status !== 201) throw new Error(`pushing blob ${digest} to ${name} returned ${response.status}: ${await response.text()}`);
  return { mediaType, digest, size: bytes.length };
}

/** Pushes a file as a blob. */
export async function pushBlobFile(send: Send, name: string, file: string, mediaType: string): Promise<Descriptor> {
  return pushBlob(send, name, await readFile(file), mediaType);
}

/** Puts a JSON document as a manifest under a tag or digest; returns its digest and bytes. */
export async function pushManifest(send: Send, name: string, reference: string, document: object, mediaType: string): Promise<{ digest: Digest; bytes: Buffer }> {
  const bytes = Buffer.from(JSON.stringify(document));
  const response = await send('PUT', `/v2/${name}/manifests/${reference}`, { body: bytes, headers: { 'content-type': mediaType } });
  if (response.status !== 201) throw new Error(`pushing manifest ${reference} to ${name} returned ${response.status}: ${await response.text()}`);
  return { digest: sha256Digest(bytes), bytes };
}

/** Reads the first error of a spec error body. */
export async function registryError(response: Response): Promise<{ code: string; message: string; detail?: unknown }> {
  const body = (await response.json()) as { errors: { code: string; message: string; detail?: unknown }[] };
  return body.errors[0]!;
}
