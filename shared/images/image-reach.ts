import { and, eq, inArray } from 'drizzle-orm';
import { readBlob, type BlobStore } from '../blobs/blob-store.ts';
import type { Database } from '../db/database.ts';
import { apps, imageTags, releases } from '../db/schema.ts';
import { ADMIN_OWNER } from '../apps/owners.ts';
import type { Digest } from '../oci/digest.ts';
import { repositoryName, type ImageReference } from '../oci/image-reference.ts';
import type { ImageStore } from './image-store.ts';

/**
 * Checks whether `digest` is one of the manifests in `roots`, or a manifest, config or layer
 * that they point to (through indexes, to any depth). The blob store is shared by every
 * owner and keyed by digest alone. So an owner may read by digest only what its own tags
 * and releases reach, and a digest learnt elsewhere (another owner's layer or build
 * context) stays unreadable. It reads every manifest under the roots, which is cheap for
 * the tens or hundreds of releases an app has.
 */
export async function manifestsReach(blobs: BlobStore, roots: readonly string[], digest: Digest): Promise<boolean> {
  const pending = [...new Set(roots)];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const manifest = pending.pop()!;
    if (manifest === digest) return true;
    if (seen.has(manifest)) continue;
    seen.add(manifest);

    const document = await readManifestLinks(blobs, manifest as Digest);
    if (document.config === digest || document.layers.includes(digest)) return true;
    pending.push(...document.manifests);
  }
  return false;
}

/**
 * Resolves a reference in the image store for `owner`. For a given owner other than the
 * admin, a digest counts as stored only when a tag of the named image or a release of
 * the owner's apps reaches it. So another owner's private image is never opened by digest. Returns null for what is missing or out of reach.
 */
export async function resolveImageForOwner(
  deps: { db: Database; blobs: BlobStore; images: ImageStore },
  reference: ImageReference,
  owner: string | undefined,
): Promise<Digest | null> {
  const stored = await deps.images.resolve(reference);
  if (!stored || !reference.digest || owner === undefined || owner === ADMIN_OWNER) return stored;

  const roots = [...(await taggedManifests(deps.db, repositoryName(reference))), ...(await releasedManifests(deps.db, await appIdsOfOwner(deps.db, owner)))];
  return (await manifestsReach(deps.blobs, roots, stored)) ? stored : null;
}

/** Returns the manifest digests that tags under an image store or pushed-tags name point to. */
export async function taggedManifests(db: Database, tagsName: string): Promise<string[]> {
  const rows = await db.select({ digest: imageTags.digest }).from(imageTags).where(eq(imageTags.name, tagsName));
  return rows.map((row) => row.digest);
}

/** Returns the manifest digests of every release of the given apps. */
export async function releasedManifests(db: Database, appIds: readonly string[]): Promise<string[]> {
  if (appIds.length === 0) return [];
  const rows = await db.select({ digest: releases.imageDigest }).from(releases).where(inArray(releases.appId, [...appIds]));
  return rows.map((row) => row.digest);
}

/** Returns the ids of an owner's apps. */
export async function appIdsOfOwner(db: Database, owner: string): Promise<string[]> {
  const rows = await db.select({ id: apps.id }).from(apps).where(eq(apps.owner, owner));
  return rows.map((row) => row.id);
}

/**
 * Returns the digests a stored manifest or index points to. A blob that is missing or is
 * not a JSON manifest points to nothing, so a damaged blob narrows what is reachable.
 */
async function readManifestLinks(blobs: BlobStore, digest: Digest): Promise<{ config?: string; layers: string[]; manifests: string[] }> {
  const bytes = await readBlob(blobs, digest).catch(() => null);
  if (!bytes) return { layers: [], manifests: [] };
  let document: { config?: { digest?: unknown }; layers?: { digest?: unknown }[]; manifests?: { digest?: unknown }[] };
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { layers: [], manifests: [] };
  }
  const digests = (list: unknown) => (Array.isArray(list) ? list.map((entry: { digest?: unknown }) => entry?.digest).filter((value): value is string => typeof value === 'string') : []);
  return {
    config: typeof document?.config?.digest === 'string' ? document.config.digest : undefined,
    layers: digests(document?.layers),
    manifests: digests(document?.manifests),
  };
}

/**
 * Returns the `image_tags` name of the tags pushed to an app. It is keyed by the app's id,
 * so a new app of the same name starts with no tags. The registry serves an image name
 * only when its first part has a dot or a colon or is `localhost` (parseRepositoryName),
 * so this name can never be one of them.
 */
export function pushedTagsName(appId: string): string {
  return `${PUSHED_TAGS_PREFIX}${appId}`;
}

export const PUSHED_TAGS_PREFIX = 'slipway-app/';

/** Checks whether a registry host names this server's own registry by a loopback name and its API port. */
export function isLoopbackRegistry(registry: string, apiPort: number): boolean {
  return [`localhost:${apiPort}`, `127.0.0.1:${apiPort}`, `[::1]:${apiPort}`].includes(registry.toLowerCase());
}

/**
 * Resolves an app's image in this server's registry for `owner`; an admin or no owner
 * reaches every app. `latest` is the current release, `vN` release N, and another tag one
 * pushed to the app. A digest counts when the app's releases or tags reach it.
 * Returns null for an unknown app, another owner's app, or a tag or digest it lacks.
 */
export async function resolveAppImage(
  deps: { db: Database; blobs: BlobStore },
  appName: string,
  reference: { tag?: string; digest?: Digest },
  owner: string | undefined,
): Promise<Digest | null> {
  const [app] = await deps.db.select().from(apps).where(eq(apps.name, appName));
  if (!app || (owner !== undefined && owner !== ADMIN_OWNER && app.owner !== owner)) return null;

  if (reference.digest) {
    const roots = [...(await taggedManifests(deps.db, pushedTagsName(app.id))), ...(await releasedManifests(deps.db, [app.id]))];
    return (await manifestsReach(deps.blobs, roots, reference.digest)) ? reference.digest : null;
  }
  const tag = reference.tag ?? 'latest';
  if (tag === 'latest') {
    if (!app.currentReleaseId) return null;
    const [release] = await deps.db.select({ digest: releases.imageDigest }).from(releases).where(eq(releases.id, app.currentReleaseId));
    return (release?.digest as Digest | undefined) ?? null;
  }
  const version = /^v([1-9][0-9]*)$/.exec(tag);
  if (version) {
    const [release] = await deps.db
      .select({ digest: releases.imageDigest })
      .from(releases)
      .where(and(eq(releases.appId, app.id), eq(releases.version, Number(version[1]))));
    return (release?.digest as Digest | undefined) ?? null;
  }
  const [tagged] = await deps.db
    .select({ digest: imageTags.digest })
    .from(imageTags)
    .where(and(eq(imageTags.name, pushedTagsName(app.id)), eq(imageTags.tag, tag)));
  return (tagged?.digest as Digest | undefined) ?? null;
}
