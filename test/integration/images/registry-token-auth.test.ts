import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { ImageStore } from '../../../shared/images/image-store.ts';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { pullImage } from '../../../shared/registry/registry-client.ts';
import { makeLayerTestRoot } from './support/layer-test-root.ts';
import { writeOciLayout, type LayoutImage } from './support/oci-layout.ts';
import { startRegistry, type RunningRegistry } from './support/registry-server.ts';
import { makeTempFolder } from './support/temp-folder.ts';
import { startTokenServer, type RunningTokenServer } from './support/token-server.ts';

const SERVICE = 'slipway-test-registry';
const CREDENTIALS = { username: 'puller', password: 'test-password' };

describe('registry token authentication', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let tokens: RunningTokenServer;
  let registry: RunningRegistry;
  let database: DatabaseHandle;
  let layout: LayoutImage;

  function freshStore(name: string): ImageStore {
    return new ImageStore(database.db, new LocalBlobStore(path.join(temp.path, `blobs-${name}`)));
  }

  beforeAll(async () => {
    temp = await makeTempFolder('registry-auth');
    tokens = await startTokenServer(temp.path, { issuer: 'slipway-test-issuer', ...CREDENTIALS });
    registry = await startRegistry(path.join(temp.path, 'registry'), {
      realm: tokens.realm,
      service: SERVICE,
      issuer: 'slipway-test-issuer',
      rootCertBundle: tokens.certificateFile,
    });

    const rootDir = path.join(temp.path, 'root');
    await makeLayerTestRoot(rootDir);
    const file = path.join(temp.path, 'layer.tar.gz');
    const layer = { ...(await writeLayer(rootDir, file)), file };
    const layoutDir = path.join(temp.path, 'layout');
    layout = await writeOciLayout(layoutDir, [layer], 'v1');
    // Asynchronous, because skopeo fetches its push token from the token server in this process.
    await promisify(execFile)('skopeo', [
      '--insecure-policy',
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${CREDENTIALS.username}:${CREDENTIALS.password}`,
      `oci:${layoutDir}:v1`,
      `docker://${registry.host}/test/private:v1`,
    ]);
    database = await openDatabase({ dataDir: path.join(temp.path, 'data') });
  });

  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
    await database?.close();
    await temp?.remove();
  });

  it('pulls with a bearer token for the pull scope', async () => {
    tokens.requests.length = 0;

    const { image } = await pullImage(parseImageReference(`${registry.host}/test/private:v1`), { images: freshStore('ok'), credentials: CREDENTIALS });

    expect(image.digest).toBe(layout.manifestDigest);
    expect(tokens.requests[0]).toMatchObject({ scope: 'repository:test/private:pull', service: SERVICE });
    expect(tokens.requests[0]?.authorization).toBe(`Basic ${Buffer.from('puller:test-password').toString('base64')}`);
  });

  it('reuses one token for the whole pull', async () => {
    tokens.requests.length = 0;

    await pullImage(parseImageReference(`${registry.host}/test/private:v1`), { images: freshStore('one-token'), credentials: CREDENTIALS });

    expect(tokens.requests).toHaveLength(1);
  });

  it('rejects wrong credentials as unauthorized', async () => {
    const credentials = { username: 'puller', password: 'wrong' };

    await expect(pullImage(parseImageReference(`${registry.host}/test/private:v1`), { images: freshStore('wrong'), credentials })).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
    });
  });

  it('rejects an anonymous pull as unauthorized', async () => {
    await expect(pullImage(parseImageReference(`${registry.host}/test/private:v1`), { images: freshStore('anonymous') })).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
    });
  });
});
