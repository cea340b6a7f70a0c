import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeLayer } from '../../../shared/layers/layer-writer.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { writeOciLayout } from '../images/support/oci-layout.ts';

const execFileAsync = promisify(execFile);

let api: ApiHarness;
let scratch: string;

beforeAll(async () => {
  api = await startApiHarness('images_api');
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-images-api-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  await api?.close();
});

/** Makes an OCI layout of a one-file image and packs it as a tarball, as skopeo's oci-archive is. */
async function ociArchive(): Promise<{ archive: Blob; manifestDigest: string }> {
  const root = path.join(scratch, 'root');
  await execFileAsync('mkdir', ['-p', path.join(root, 'etc')]);
  await writeFile(path.join(root, 'etc', 'greeting'), 'hello\n');
  const layerFile = path.join(scratch, 'layer.tar.gz');
  const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });

  const layout = path.join(scratch, 'layout');
  const image = await writeOciLayout(layout, [{ ...layer, file: layerFile }], 'v1');
  const archiveFile = path.join(scratch, 'image.tar');
  await execFileAsync('tar', ['-C', layout, '-cf', archiveFile, '.']);
  return { archive: new Blob([await readFile(archiveFile)]), manifestDigest: image.manifestDigest };
}

describe('image import', () => {
  it('loads an OCI layout tarball and tags it', async () => {
    const { archive, manifestDigest } = await ociArchive();
    const response = await api.request('POST', '/v1/images/import?ref=example/tool:v1', { body: archive });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ reference: 'docker.io/example/tool:v1', digest: manifestDigest });

    const lookup = await api.request('GET', '/v1/images?ref=example/tool:v1');
    expect(await lookup.json()).toEqual({ reference: 'docker.io/example/tool:v1', digest: manifestDigest });
  });

  it('rejects a body that is not an image archive', async () => {
    const response = await api.request('POST', '/v1/images/import?ref=junk:v1', { body: 'not a tarball at all' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toMatch(/^IMAGE_ARCHIVE_INVALID$/);
  });

  it('rejects an import without a reference', async () => {
    const response = await api.request('POST', '/v1/images/import', { body: 'x' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('IMAGE_REFERENCE_MISSING');
  });

  it('rejects an invalid reference', async () => {
    const response = await api.request('POST', '/v1/images/import?ref=Bad%20Name', { body: 'x' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.code).toBe('IMAGE_REFERENCE_INVALID');
  });

  it('answers 404 for an image that is not stored', async () => {
    const response = await api.request('GET', '/v1/images?ref=missing:v9');
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('IMAGE_NOT_FOUND');
  });
});
