import { sha256 } from './oci-layout.ts';

/**
 * Pushes one blob to a registry with the distribution API's two-step upload
 * (POST to start, PUT with the digest to finish), for documents skopeo would rewrite.
 */
export async function pushBlob(host: string, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`http://${host}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await start.body?.cancel();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`starting an upload to ${host} returned ${start.status}`);

  const url = new URL(location, `http://${host}`);
  url.searchParams.set('digest', digest);
  const finish = await fetch(url, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
  if (finish.status !== 201) throw new Error(`finishing the upload of ${digest} returned ${finish.status}: ${await finish.text()}`);
  return digest;
}

/** Puts a manifest or index under a tag, exactly as given. */
export async function pushManifest(host: string, repository: string, tag: string, bytes: Buffer, mediaType: string): Promise<void> {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    body: new Uint8Array(bytes),
    headers: { 'content-type': mediaType },
  });
  if (response.status !== 201) throw new Error(`putting manifest ${tag} returned ${response.status}: ${await response.text()}`);
}
