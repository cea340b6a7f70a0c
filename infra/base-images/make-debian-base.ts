import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.ts';
import type { ImageStore } from '../../shared/images/image-store.ts';
import { writeLayer } from '../../shared/layers/layer-writer.ts';
import { runCommand } from '../../shared/process/run-command.ts';
import { createLogger, type Logger } from '../../shared/logger.ts';
import { formatImageReference, parseImageReference } from '../../shared/oci/image-reference.ts';
import type { ImageConfig, StoredImage } from '../../shared/oci/image-types.ts';
import { MediaType } from '../../shared/oci/media-types.ts';
import { readHostDebianMirrors, type DebianMirrors } from './apt-sources.ts';
import { cleanDebianRoot } from './debian-root-cleanup.ts';

export const DEBIAN_SUITE = 'bookworm';
/** PATH as Docker's official Debian images set it. */
const DEBIAN_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** GNU tar options that keep numeric owners, modes and extended attributes such as file capabilities. */
const TAR_OPTIONS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls'];

export interface MakeDebianBaseOptions {
  images: ImageStore;
  /** Keeps the debootstrap result as a tarball, so later runs do not download again. */
  cacheDir: string;
  /** Rebuilds the image from the cached tarball even when the tag exists. */
  force?: boolean;
  /** Runs debootstrap again, replacing the cached tarball, to pick up newer packages. */
  refresh?: boolean;
  /** Main archive mirror; by default the one the host's apt sources name for the suite. */
  mirror?: string;
  logger?: Logger;
}

export interface DebianBaseResult {
  image: StoredImage;
  /** The normalized reference the image is tagged as (`docker.io/library/debian:bookworm`). */
  reference: string;
  /** `tag` when the image existed, `tarball` when debootstrap's cached result was reused, `none` for a full run. */
  reused: 'tag' | 'tarball' | 'none';
}

/**
 * Makes the `debian:bookworm` base image with `debootstrap --variant=minbase`, trims it
 * to a container root, writes it as one reproducible layer and tags it. Needs root,
 * because debootstrap chowns files and creates device nodes. The debootstrap result is
 * cached as a tarball in `cacheDir`; when the tag exists already nothing is done.
 */
export async function makeDebianBaseImage(options: MakeDebianBaseOptions): Promise<DebianBaseResult> {
  const log = options.logger ?? createLogger('base-images');
  const reference = parseImageReference(`debian:${DEBIAN_SUITE}`);
  const referenceText = formatImageReference(reference);
  if (process.getuid?.() !== 0) {
    throw new ValidationError('BASE_IMAGE_NEEDS_ROOT', 'Making base images needs root, because debootstrap creates device nodes and sets file owners: run `slipway base-images` as root.');
  }

  const existing = options.force || options.refresh ? null : await options.images.resolve(reference);
  if (existing && (await options.images.blobs.stat(existing))) {
    log.info({ reference: referenceText, digest: existing }, 'base image present');
    return { image: await options.images.getImage(existing), reference: referenceText, reused: 'tag' };
  }

  const mirrors = await readHostDebianMirrors(DEBIAN_SUITE);
  if (options.mirror) mirrors.mirror = options.mirror;
  await mkdir(options.cacheDir, { recursive: true });
  const workDir = path.join(options.cacheDir, `work-${randomUUID()}`);
  try {
    const tarball = path.join(options.cacheDir, `debootstrap-${DEBIAN_SUITE}-minbase-amd64.tar`);
    const reused = await ensureDebootstrapTarball(tarball, workDir, mirrors, options.refresh ?? false, log);
    const image = await buildImage(tarball, workDir, mirrors, options.images, log);
    await options.images.tag(reference, image.digest);
    log.info({ reference: referenceText, digest: image.digest }, 'base image tagged');
    return { image, reference: referenceText, reused };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Runs debootstrap into a tarball unless one exists; returns whether the cached one was used. */
async function ensureDebootstrapTarball(tarball: string, workDir: string, mirrors: DebianMirrors, refresh: boolean, log: Logger): Promise<'tarball' | 'none'> {
  if (!refresh && (await stat(tarball).catch(() => null))?.isFile()) {
    log.info({ tarball }, 'debootstrap tarball reused');
    return 'tarball';
  }

  const root = path.join(workDir, 'debootstrap');
  const started = Date.now();
  log.info({ suite: DEBIAN_SUITE, mirror: mirrors.mirror }, 'debootstrap started');
  await runCommand('debootstrap', ['--variant=minbase', '--arch=amd64', DEBIAN_SUITE, root, mirrors.mirror]);
  log.info({ ms: Date.now() - started }, 'debootstrap finished');

  // Written under another name and renamed, so an interrupted run leaves no partial tarball.
  const partial = `${tarball}.partial-${randomUUID()}`;
  try {
    await runCommand('tar', [...TAR_OPTIONS, '-C', root, '-cf', partial, '.']);
    await rename(partial, tarball);
  } finally {
    await rm(partial, { force: true });
  }
  await rm(root, { recursive: true, force: true });
  log.info({ tarball }, 'debootstrap tarball saved');
  return 'none';
}

/**
 * Restores the tarball, trims the root and stores it as a one-layer image. Every run
 * starts from the tarball, so a cold and a cached run give the same layer. The layer's
 * mtimes are clamped to the tarball's mtime, which is fixed once the tarball exists.
 */
async function buildImage(tarball: string, workDir: string, mirrors: DebianMirrors, images: ImageStore, log: Logger): Promise<StoredImage> {
  const root = path.join(workDir, 'root');
  await mkdir(root, { recursive: true });
  await runCommand('tar', [...TAR_OPTIONS, '-p', '-C', root, '-xf', tarball]);
  await cleanDebianRoot(root, mirrors, DEBIAN_SUITE);
  log.info({ root }, 'debian root prepared');

  const sourceDateEpoch = Math.floor((await stat(tarball)).mtimeMs / 1000);
  const layerFile = path.join(workDir, 'layer.tar.gz');
  const started = Date.now();
  const layer = await writeLayer(root, layerFile, { sourceDateEpoch, overlay: false });
  await images.blobs.putFile(layerFile, { expectedDigest: layer.digest });
  log.info({ digest: layer.digest, diffId: layer.diffId, size: layer.size, ms: Date.now() - started }, 'base layer written');

  const created = new Date(sourceDateEpoch * 1000).toISOString();
  const config: ImageConfig = {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: { Env: [DEBIAN_PATH], Cmd: ['bash'] },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `debootstrap --variant=minbase ${DEBIAN_SUITE} ${mirrors.mirror} (slipway base-images)` }],
  };
  return images.putImage(config, [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }]);
}
