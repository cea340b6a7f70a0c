import { Readable } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { readBlobJson, type BlobStore } from '../blobs/blob-store.ts';
import type { Database } from '../db/database.ts';
import { imageTags } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';
import type { Digest } from '../oci/digest.ts';
import type { ImageConfig, ImageManifest, StoredImage } from '../oci/image-types.ts';
import { MediaType } from '../oci/media-types.ts';
import { formatImageReference, repositoryName, type ImageReference } from '../oci/image-reference.ts';

/** Storage of image names: `repository:tag` → manifest digest. */
export interface ImageTagStore {
  setTag(repository: string, tag: string, digest: Digest): Promise<void>;
  getTag(repository: string, tag: string): Promise<Digest | null>;
}

/** Tags in the `image_tags` table, shared by every host of an install. */
export class DatabaseImageTags implements ImageTagStore {
  constructor(private readonly db: Database) {}

  async setTag(repository: string, tag: string, digest: Digest): Promise<void> {
    await this.db
      .insert(imageTags)
      .values({ name: repository, tag, digest })
      .onConflictDoUpdate({ target: [imageTags.name, imageTags.tag], set: { digest, updatedAt: new Date() } });
  }

  async getTag(repository: string, tag: string): Promise<Digest | null> {
    const rows = await this.db
      .select({ digest: imageTags.digest })
      .from(imageTags)
      .where(and(eq(imageTags.name, repository), eq(imageTags.tag, tag)));
    return (rows[0]?.digest as Digest | undefined) ?? null;
  }
}

/** Tags in memory, for a store that only lives while a command runs (the CLI's image export). */
export class MemoryImageTags implements ImageTagStore {
  readonly tags = new Map<string, Digest>();

  async setTag(repository: string, tag: string, digest: Digest): Promise<void> {
    this.tags.set(`${repository}:${tag}`, digest);
  }

  async getTag(repository: string, tag: string): Promise<Digest | null> {
    return this.tags.get(`${repository}:${tag}`) ?? null;
  }
}

/**
 * Images in the blob store, with the tags that name them. A manifest and its config are
 * blobs like the layers; an image is known by its manifest digest. Given a database,
 * tags live in its `image_tags` table.
 */
export class ImageStore {
  private readonly tags: ImageTagStore;

  constructor(
    tags: Database | ImageTagStore,
    readonly blobs: BlobStore,
  ) {
    this.tags = 'getTag' in tags ? tags : new DatabaseImageTags(tags);
  }

  /**
   * Stores an image's config and manifest. The layers must be in the blob store already;
   * the manifest records each layer descriptor as given.
   */
  async putImage(config: ImageConfig, layers: ImageManifest['layers'], annotations?: Record<string, string>): Promise<StoredImage> {
    const configBytes = Buffer.from(JSON.stringify(config));
    const storedConfig = await this.blobs.put(Readable.from([configBytes]));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: storedConfig.digest, size: storedConfig.size },
      layers,
      ...(annotations ? { annotations } : {}),
    };
    const storedManifest = await this.blobs.put(Readable.from([Buffer.from(JSON.stringify(manifest))]));
    return { digest: storedManifest.digest, manifest, config };
  }

  async getImage(digest: Digest): Promise<StoredImage> {
    const manifest = await readBlobJson<ImageManifest>(this.blobs, digest);
    const config = await readBlobJson<ImageConfig>(this.blobs, manifest.config.digest);
    return { digest, manifest, config };
  }

  async tag(reference: ImageReference, digest: Digest): Promise<void> {
    await this.tags.setTag(repositoryName(reference), reference.tag ?? 'latest', digest);
  }

  /** Returns the manifest digest that a reference names in this store, or null. */
  async resolve(reference: ImageReference): Promise<Digest | null> {
    if (reference.digest) return (await this.blobs.stat(reference.digest)) ? reference.digest : null;

    return this.tags.getTag(repositoryName(reference), reference.tag ?? 'latest');
  }

  async getByReference(reference: ImageReference): Promise<StoredImage> {
    const digest = await this.resolve(reference);
    if (!digest) {
      throw new NotFoundError('IMAGE_NOT_FOUND', `Image ${formatImageReference(reference)} is not in the image store.`, {
        details: { reference: formatImageReference(reference) },
      });
    }
    return this.getImage(digest);
  }
}
