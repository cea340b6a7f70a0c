import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { ImageStore } from '../../../shared/images/image-store.ts';
import { sha256Digest } from '../../../shared/oci/digest.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { pullImage } from '../../../shared/registry/registry-client.ts';
import { freePort } from '../../support/free-port.ts';
import { makeTempFolder } from './support/temp-folder.ts';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * Failures a real registry does not produce on demand (no response, a stalled download,
 * a 403), played by a small HTTP server on 127.0.0.1.
 */
describe('registry failures', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let database: DatabaseHandle;
  let images: ImageStore;
  const servers: Server[] = [];

  async function serve(handler: Handler): Promise<string> {
    const port = await freePort();
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return `127.0.0.1:${port}`;
  }

  beforeAll(async () => {
    temp = await makeTempFolder('registry-errors');
    database = await openDatabase({ dataDir: path.join(temp.path, 'data') });
    images = new ImageStore(database.db, new LocalBlobStore(path.join(temp.path, 'blobs')));
  });

  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await database?.close();
    await temp?.remove();
  });

  it('times out when the registry does not respond', async () => {
    const host = await serve(() => {
      // Never responds.
    });

    await expect(pullImage(parseImageReference(`${host}/test/app:v1`), { images, timeoutMs: 300 })).rejects.toMatchObject({ code: 'REGISTRY_TIMEOUT' });
  });

  it('times out when a blob download stalls', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const configDigest = sha256Digest(config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
      layers: [],
    });
    const host = await serve((request, response) => {
      if (request.url?.includes('/manifests/')) {
        response.writeHead(200, { 'content-type': MediaType.ociManifest }).end(manifest);
        return;
      }
      response.writeHead(200, { 'content-length': String(config.length) });
      response.write(config.subarray(0, 10));
    });

    await expect(pullImage(parseImageReference(`${host}/test/app:v1`), { images, idleTimeoutMs: 300 })).rejects.toMatchObject({
      code: 'REGISTRY_TIMEOUT',
    });
    expect(await images.blobs.stat(configDigest)).toBeNull();
  });

  it('reports a 403 as forbidden', async () => {
    const host = await serve((_request, response) => {
      response.writeHead(403).end();
    });

    await expect(pullImage(parseImageReference(`${host}/test/app:v1`), { images })).rejects.toMatchObject({ code: 'REGISTRY_FORBIDDEN' });
  });

  it('reports a 401 without a challenge as unauthorized', async () => {
    const host = await serve((_request, response) => {
      response.writeHead(401).end();
    });

    await expect(pullImage(parseImageReference(`${host}/test/app:v1`), { images })).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
  });

  it('reports a closed port as unreachable', async () => {
    const port = await freePort();

    await expect(pullImage(parseImageReference(`127.0.0.1:${port}/test/app:v1`), { images })).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE' });
  });

  it('rejects a manifest whose digest differs from the one announced', async () => {
    const host = await serve((_request, response) => {
      response
        .writeHead(200, { 'content-type': MediaType.ociManifest, 'docker-content-digest': `sha256:${'a'.repeat(64)}` })
        .end(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
    });

    await expect(pullImage(parseImageReference(`${host}/test/app:v1`), { images })).rejects.toMatchObject({ code: 'REGISTRY_DIGEST_MISMATCH' });
  });

  it('does not send its token to another origin after a redirect', async () => {
    const seen: (string | undefined)[] = [];
    const storage = await serve((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(404).end();
    });
    const tokenHost = await serve((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'secret-token' }));
    });
    const registry = await serve((request, response) => {
      if (request.headers.authorization !== 'Bearer secret-token') {
        response.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokenHost}/token",service="test"` }).end();
        return;
      }
      response.writeHead(307, { location: `http://${storage}/manifest` }).end();
    });

    await expect(pullImage(parseImageReference(`${registry}/test/app:v1`), { images })).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect(seen).toEqual([undefined]);
  });
});
