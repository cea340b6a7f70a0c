import { and, eq, like, not } from 'drizzle-orm';
import type { AppRow } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { apps, imageTags, releases } from '../../shared/db/schema.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';
import { mayReachOwner } from '../middleware/app-access.ts';
import { RegistryError } from './registry-errors.ts';
import { isReleaseTag, parseRepositoryName, PUSHED_TAGS_PREFIX, pushedTagsName, type RepositoryTarget } from './registry-names.ts';

/** A repository of this registry, resolved to the app or the image name behind it. */
export interface Repository {
  /** The name as the client wrote it. */
  name: string;
  target: RepositoryTarget;
  /** The app, for an app repository. */
  app?: AppRow;
  /** The `image_tags` name of the repository's pushed or imported tags. */
  tagsName: string;
}

/**
 * Resolves a repository name for a request acting for `owner`. An app must exist and
 * belong to the owner; an admin reaches every app. Another owner's app is reported as
 * unknown, as a missing one is, so names do not leak. An image repository must have a
 * tag to be read, but a push may start a new one: that is how a base image is pushed for
 * FROM. Image names are shared by every owner's builds, so only an admin pushes them.
 */
export async function openRepository(db: Database, name: string, purpose: 'pull' | 'push', owner: string): Promise<Repository> {
  const target = parseRepositoryName(name);
  if (target.kind === 'app') {
    const [app] = await db.select().from(apps).where(eq(apps.name, target.name));
    if (!app || !mayReachOwner(owner, app.owner)) {
      throw new RegistryError('NAME_UNKNOWN', `Repository ${JSON.stringify(name)} is unknown: no app has that name. Create it with "slipway apps create ${name}".`, {
        detail: { name },
      });
    }
    return { name, target, app, tagsName: pushedTagsName(app.id) };
  }

  if (purpose === 'push' && owner !== ADMIN_OWNER) {
    throw new RegistryError(
      'DENIED',
      `Repository ${JSON.stringify(name)} is not an app of yours, and image names outside apps are shared by every owner's builds, so only an admin token pushes them: push to one of your apps (<registry host>/<app>:<tag>) instead.`,
      { detail: { name } },
    );
  }
  if (purpose === 'pull') {
    const [tagged] = await db.select({ tag: imageTags.tag }).from(imageTags).where(eq(imageTags.name, target.name)).limit(1);
    if (!tagged) throw new RegistryError('NAME_UNKNOWN', `Repository ${JSON.stringify(name)} is unknown: the image store has no tag under that name.`, { detail: { name } });
  }
  return { name, target, tagsName: target.name };
}

/** Returns the manifest digest a tag names in a repository, or null. */
export async function resolveTag(db: Database, repository: Repository, tag: string): Promise<Digest | null> {
  const app = repository.app;
  if (app && isReleaseTag(tag)) {
    if (tag === 'latest' && !app.currentReleaseId) return null;
    const condition = tag === 'latest' ? eq(releases.id, app.currentReleaseId!) : eq(releases.version, Number(tag.slice(1)));
    const [release] = await db
      .select({ digest: releases.imageDigest })
      .from(releases)
      .where(and(eq(releases.appId, app.id), condition));
    return (release?.digest as Digest | undefined) ?? null;
  }

  const [row] = await db
    .select({ digest: imageTags.digest })
    .from(imageTags)
    .where(and(eq(imageTags.name, repository.tagsName), eq(imageTags.tag, tag)));
  return (row?.digest as Digest | undefined) ?? null;
}

/** Lists every tag of a repository in lexical order, as tag pagination requires. */
export async function listTags(db: Database, repository: Repository): Promise<string[]> {
  const tags = new Set<string>();
  const stored = await db.select({ tag: imageTags.tag }).from(imageTags).where(eq(imageTags.name, repository.tagsName));
  for (const row of stored) tags.add(row.tag);

  const app = repository.app;
  if (app) {
    const rows = await db.select({ version: releases.version }).from(releases).where(eq(releases.appId, app.id));
    for (const row of rows) tags.add(`v${row.version}`);
    if (app.currentReleaseId) tags.add('latest');
  }
  return [...tags].sort(compareCodePoints);
}

/** Sets a pushed tag. Release tags of an app are refused, because only a deploy makes a release. */
export async function setPushedTag(db: Database, repository: Repository, tag: string, digest: Digest): Promise<void> {
  if (repository.app && isReleaseTag(tag)) {
    throw new RegistryError(
      'DENIED',
      `Tag ${JSON.stringify(tag)} of app ${repository.name} names a release and cannot be pushed: push under another tag, such as ${repository.name}:build-1, then deploy it with "slipway deploy --image <registry host>/${repository.name}:build-1".`,
      { detail: { name: repository.name, tag } },
    );
  }
  await db
    .insert(imageTags)
    .values({ name: repository.tagsName, tag, digest })
    .onConflictDoUpdate({ target: [imageTags.name, imageTags.tag], set: { digest, updatedAt: new Date() } });
}

/**
 * Lists in lexical order the repository names an owner may pull: its apps (every app for
 * an admin) and the image names of the image store. Used by `/v2/_catalog`; it reads all
 * names, which stays cheap while an install has thousands of them, not millions.
 */
export async function listRepositories(db: Database, owner: string): Promise<string[]> {
  const appRows = await (owner === ADMIN_OWNER ? db.select({ name: apps.name }).from(apps) : db.select({ name: apps.name }).from(apps).where(eq(apps.owner, owner)));
  const imageRows = await db.selectDistinct({ name: imageTags.name }).from(imageTags).where(not(like(imageTags.name, `${PUSHED_TAGS_PREFIX}%`)));

  const names = [...appRows, ...imageRows].map((row) => row.name).filter((name) => isServedName(name));
  return [...new Set(names)].sort(compareCodePoints);
}

/** Image names with a port in their host (`127.0.0.1:5000/app`) are not valid repository names here. */
function isServedName(name: string): boolean {
  try {
    parseRepositoryName(name);
    return true;
  } catch {
    return false;
  }
}

/** Orders strings by code point, as the tag list's `last` parameter compares them. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
