import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { makeDebianBaseImage } from '../../infra/base-images/make-debian-base.ts';
import { LocalBlobStore } from '../../shared/blobs/local-blob-store.ts';
import { loadConfig } from '../../shared/config.ts';
import { ImageStore, MemoryImageTags } from '../../shared/images/image-store.ts';
import { MediaType } from '../../shared/oci/media-types.ts';
import type { StoredImage } from '../../shared/oci/image-types.ts';
import { ApiClient } from '../api-client.ts';
import { ApiError, ExitCode } from '../cli-error.ts';
import type { Command } from '../main.ts';

const BASE_REFERENCE = 'debian:bookworm';

export const baseImagesCommand: Command = {
  summary: 'Make debian:bookworm available to FROM, without a registry',
  options: { force: { type: 'boolean' }, refresh: { type: 'boolean' } },
  usage: [
    'Usage: slipway base-images [--force] [--refresh]',
    '',
    'Makes a minimal Debian bookworm root with debootstrap (from the Debian mirror in the',
    "host's apt sources), turns it into an OCI image and loads it into the running server",
    'as debian:bookworm. The debootstrap result is cached in SLIPWAY_CACHE_DIR (default:',
    '<data dir>/cache), so later runs take seconds. Needs root.',
    '',
    'Options:',
    '  --force     Load the image again even when the server has debian:bookworm',
    '  --refresh   Run debootstrap again instead of using the cached result',
  ].join('\n'),

  async run(args) {
    const { values } = parseArgs({ args, options: { force: { type: 'boolean' }, refresh: { type: 'boolean' } } });
    const config = loadConfig();
    const client = await ApiClient.fromEnvironment();

    if (!values.force && !values.refresh) {
      const existing = await findImage(client, BASE_REFERENCE);
      if (existing) {
        process.stdout.write(`${BASE_REFERENCE} is present (${existing}); use --force to load it again.\n`);
        return ExitCode.ok;
      }
    }

    // The image is made in a throwaway OCI layout and loaded through the API, as `docker
    // load` would, so this works while the server has its database open.
    const layoutDir = await mkdtemp(path.join(tmpdir(), 'slipway-base-image-'));
    try {
      process.stdout.write(`Making ${BASE_REFERENCE} with debootstrap (about 30 s the first time)...\n`);
      const images = new ImageStore(new MemoryImageTags(), new LocalBlobStore(layoutDir));
      const { image, reused } = await makeDebianBaseImage({ images, cacheDir: path.join(config.cacheDir, 'base-images'), force: true, refresh: values.refresh });
      if (reused === 'tarball') process.stdout.write('Used the cached debootstrap result.\n');

      await writeLayoutIndex(layoutDir, image, (await images.blobs.stat(image.digest))!.size);
      const response = await client.request('POST', `/v1/images/import?ref=${encodeURIComponent(BASE_REFERENCE)}`, {
        body: Readable.toWeb(tarFolder(layoutDir, ['oci-layout', 'index.json', 'blobs'])) as ReadableStream,
        headers: { 'content-type': 'application/x-tar' },
      });
      const loaded = (await response.json()) as { reference: string; digest: string };
      process.stdout.write(`Loaded ${loaded.reference} (${loaded.digest})\n`);
      return ExitCode.ok;
    } finally {
      await rm(layoutDir, { recursive: true, force: true });
    }
  },
};

async function findImage(client: ApiClient, reference: string): Promise<string | null> {
  try {
    const found = await client.json<{ digest: string }>('GET', `/v1/images?ref=${encodeURIComponent(reference)}`);
    return found.digest;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** Writes the two files that make a blob folder an OCI image layout with one image. */
async function writeLayoutIndex(layoutDir: string, image: StoredImage, manifestBytes: number): Promise<void> {
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(layoutDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: image.digest, size: manifestBytes, annotations: { 'org.opencontainers.image.ref.name': 'bookworm' } }],
    }),
  );
}

function tarFolder(dir: string, entries: string[]): Readable {
  const tar = spawn('tar', ['-C', dir, '-c', ...entries], { stdio: ['ignore', 'pipe', 'inherit'] });
  return tar.stdout;
}
