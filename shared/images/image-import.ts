import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobStore } from '../blobs/blob-store.ts';
import { isSlipwayError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { formatImageReference, type ImageReference } from '../oci/image-reference.ts';
import type { StoredImage } from '../oci/image-types.ts';
import { ArchiveFolder } from './archive-folder.ts';
import { importDockerArchive } from './docker-archive-import.ts';
import { ImageArchiveInvalidError } from './image-archive-error.ts';
import type { ImageStore } from './image-store.ts';
import { importOciLayout } from './oci-layout-import.ts';

const log = createLogger('image-import');

export interface ImportDependencies {
  images: ImageStore;
  /** The store the image's blobs go to; the image store's own by default. */
  blobs?: BlobStore;
  /** Folder for extracting the archive while it is read; the system temp folder by default. */
  tempDir?: string;
}

/**
 * Loads an image archive into the blob and image stores and tags it as `reference`
 * (when the reference has a tag), as `docker load` does. Accepts docker-archive and OCI image layout tarballs. An
 * archive with several images imports the one named by `reference`, or its only one.
 * The archive is extracted into a temporary folder that is removed afterwards.
 */
export async function importImageArchive(archive: Readable, reference: ImageReference, deps: ImportDependencies): Promise<StoredImage> {
  const tempRoot = deps.tempDir ?? tmpdir();
  await mkdir(tempRoot, { recursive: true });
  const workDir = await mkdtemp(path.join(tempRoot, 'image-import-'));
  const blobs = deps.blobs ?? deps.images.blobs;
  try {
    const folder = await extractArchive(archive, path.join(workDir, 'archive'));
    const context = { folder, reference, blobs, workDir };

    let digest;
    if (await folder.resolve('manifest.json')) digest = await importDockerArchive(context);
    else if (await folder.resolve('index.json')) digest = await importOciLayout(context);
    else throw new ImageArchiveInvalidError('it has neither manifest.json nor index.json');

    if (reference.tag) await deps.images.tag(reference, digest);
    const image = await deps.images.getImage(digest);
    log.info({ reference: formatImageReference(reference), digest }, 'image archive imported');
    return image;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function extractArchive(archive: Readable, root: string): Promise<ArchiveFolder> {
  await mkdir(root);
  try {
    return await ArchiveFolder.extract(archive, root);
  } catch (error) {
    archive.destroy();
    if (isSlipwayError(error)) throw error;
    throw new ImageArchiveInvalidError(`reading it as a tar failed: ${(error as Error).message}`, { cause: error });
  }
}
