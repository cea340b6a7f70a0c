import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../blobs/blob-store.ts';
import { BlobDigestMismatchError } from '../blobs/blob-store.ts';
import { SystemError, ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { digestHex, DigestingStream, type Digest } from '../oci/digest.ts';
import type { Descriptor, StoredImage } from '../oci/image-types.ts';
import { unpackLayer } from './layer-unpacker.ts';

const log = createLogger('layer-cache');

/**
 * Unpacked layers on this host, each kept once under `<root>/<diff_id hex>` in overlayfs
 * form and shared by every image that has it. A folder appears there only complete and
 * verified: it is unpacked into `<root>/.tmp-*` and renamed into place, so two
 * processes that race both end with one good folder. Callers must keep a layer that a
 * mounted container uses from being removed.
 */
export class LayerCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    readonly root: string,
    private readonly blobs: BlobStore,
  ) {}

  /** The folder a layer has, or will have, in the cache. */
  layerPath(diffId: Digest): string {
    return path.join(this.root, digestHex(diffId));
  }

  async has(diffId: Digest): Promise<boolean> {
    return (await stat(this.layerPath(diffId)).catch(() => null))?.isDirectory() ?? false;
  }

  /**
   * Returns the folder of an unpacked layer, unpacking it from the blob store first when
   * needed. The blob's digest and the uncompressed diff_id are both verified. Calls for
   * the same layer in one process share one unpack.
   */
  ensureLayer(descriptor: Descriptor, diffId: Digest): Promise<string> {
    const key = digestHex(diffId);
    const running = this.pending.get(key);
    if (running) return running;

    const promise = this.unpackOnce(descriptor, diffId).finally(() => this.pending.delete(key));
    this.pending.set(key, promise);
    return promise;
  }

  /** Returns the folders of an image's layers, bottom layer first. */
  async ensureImage(image: StoredImage): Promise<string[]> {
    const layers = image.manifest.layers;
    const diffIds = image.config.rootfs.diff_ids;
    if (layers.length !== diffIds.length) {
      throw new ValidationError(
        'IMAGE_LAYERS_MISMATCH',
        `Image ${image.digest} has ${layers.length} layers in its manifest but ${diffIds.length} diff_ids in its config: rebuild or re-pull the image.`,
      );
    }

    const folders: string[] = [];
    for (const [index, descriptor] of layers.entries()) {
      folders.push(await this.ensureLayer(descriptor, diffIds[index] as Digest));
    }
    return folders;
  }

  /**
   * Moves a folder that is already a layer in overlayfs form, such as a build step's
   * upper directory, into the cache under `diffId`. The folder must be on the cache's
   * filesystem. It is consumed either way: when the layer is cached already, the folder
   * is removed and the cached one returned.
   */
  async adoptLayer(diffId: Digest, folder: string): Promise<string> {
    await mkdir(this.root, { recursive: true });
    const target = this.layerPath(diffId);
    try {
      await rename(folder, target);
      log.info({ diffId }, 'layer adopted');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EXDEV') {
        throw new SystemError('LAYER_CACHE_OTHER_FILESYSTEM', `Cannot move ${folder} into the layer cache at ${this.root} because it is on another filesystem: create build folders under the data folder.`, { cause: error });
      }
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await rm(folder, { recursive: true, force: true });
    }
    return target;
  }

  /**
   * Removes a layer's folder. It is renamed away first, so a concurrent `ensureLayer`
   * finds it either complete or absent, never half deleted.
   */
  async removeLayer(diffId: Digest): Promise<void> {
    // TODO: nothing here knows which containers mount a layer, so removing one that is in
    // use breaks their overlay; the runner has to track use before it calls this.
    const trash = path.join(this.root, `.trash-${randomUUID()}`);
    try {
      await rename(this.layerPath(diffId), trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await rm(trash, { recursive: true, force: true });
    log.info({ diffId }, 'layer removed');
  }

  private async unpackOnce(descriptor: Descriptor, diffId: Digest): Promise<string> {
    const target = this.layerPath(diffId);
    if (await this.has(diffId)) return target;

    await mkdir(this.root, { recursive: true });
    const temporary = path.join(this.root, `.tmp-${digestHex(diffId).slice(0, 12)}-${randomUUID()}`);
    const started = Date.now();
    try {
      const digesting = new DigestingStream();
      const blob = await this.blobs.get(descriptor.digest);
      const feeding = pipeline(blob, digesting);
      // unpackLayer reports a failed read itself; this keeps the rejection from going unhandled.
      feeding.catch(() => {});
      const unpacked = await unpackLayer(digesting, temporary, { expectedDiffId: diffId });
      await feeding;
      if (digesting.digest() !== descriptor.digest) throw new BlobDigestMismatchError(descriptor.digest, digesting.digest());

      await this.moveIntoPlace(temporary, target);
      log.info({ diffId, digest: descriptor.digest, entries: unpacked.entries, ms: Date.now() - started }, 'layer unpacked');
      return target;
    } finally {
      await rm(temporary, { recursive: true, force: true });
    }
  }

  /** Renames a verified folder into place; another process that got there first wins. */
  private async moveIntoPlace(temporary: string, target: string): Promise<void> {
    try {
      await rename(temporary, target);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
  }
}
