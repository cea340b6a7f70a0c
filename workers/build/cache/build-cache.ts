import { eq, inArray } from 'drizzle-orm';
import type { BlobStore } from '../../../shared/blobs/blob-store.ts';
import type { Database } from '../../../shared/db/database.ts';
import { buildCacheEntries } from '../../../shared/db/schema.ts';
import type { Digest } from '../../../shared/oci/digest.ts';
import type { Descriptor } from '../../../shared/oci/image-types.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';

/** The layer a cached step made: its blob descriptor and diff_id. */
export interface CachedLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

export interface CachedStep {
  /** null when the step changed no file. */
  layer: CachedLayer | null;
  /** When the step ran; reused as the history entry's `created`, so a cached rebuild gives the same image. */
  createdAt: Date;
}

/**
 * The build cache in the `build_cache_entries` table: the result of each file step by
 * its cache key (see cache-key.ts). Entries are shared by every worker of an install,
 * because the layers they name live in the shared blob store. With a `scope` (the app's
 * owner) the entries are that owner's alone: a step's key leaves out the secrets it
 * mounts, so a shared entry could hand one owner the output of another's secret step.
 */
export class BuildCache {
  /** Keys this build hit; their lastUsedAt is written once, by `recordUse`, not once per step. */
  private readonly hits = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly scope?: string,
  ) {}

  private scoped(key: string): string {
    return this.scope === undefined ? key : `${this.scope}/${key}`;
  }

  /**
   * Returns the step stored under `key`, or null. An entry whose layer blob is gone
   * from the blob store counts as a miss, so the step runs again and replaces it.
   */
  async lookup(stepKey: string): Promise<CachedStep | null> {
    const key = this.scoped(stepKey);
    const rows = await this.db.select().from(buildCacheEntries).where(eq(buildCacheEntries.key, key));
    const row = rows[0];
    if (!row) return null;

    let layer: CachedLayer | null = null;
    if (row.layerDigest !== null && row.diffId !== null) {
      const digest = row.layerDigest as Digest;
      if (!(await this.blobs.stat(digest))) return null;
      const descriptor: Descriptor = { mediaType: row.mediaType ?? MediaType.ociLayerGzip, digest, size: Number(row.layerSize) };
      layer = { descriptor, diffId: row.diffId as Digest };
    }

    this.hits.add(key);
    return { layer, createdAt: row.createdAt };
  }

  /** Marks the entries this build hit as used now, in one statement; call it when the build ends. */
  async recordUse(): Promise<void> {
    if (this.hits.size === 0) return;
    const keys = [...this.hits];
    this.hits.clear();
    await this.db.update(buildCacheEntries).set({ lastUsedAt: new Date() }).where(inArray(buildCacheEntries.key, keys));
  }

  /** Stores the result of a step that ran, replacing an entry of the same key (a `noCache` build runs steps again). */
  async record(stepKey: string, step: CachedStep): Promise<void> {
    const key = this.scoped(stepKey);
    const values = {
      layerDigest: step.layer?.descriptor.digest ?? null,
      diffId: step.layer?.diffId ?? null,
      layerSize: step.layer?.descriptor.size ?? null,
      mediaType: step.layer?.descriptor.mediaType ?? null,
      createdAt: step.createdAt,
      lastUsedAt: step.createdAt,
    };
    await this.db
      .insert(buildCacheEntries)
      .values({ key, ...values })
      .onConflictDoUpdate({ target: buildCacheEntries.key, set: values });
  }
}
