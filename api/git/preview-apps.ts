import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { AppRow } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { apps, volumes } from '../../shared/db/schema.ts';
import { ConflictError } from '../../shared/errors.ts';

/** A DNS label has at most 63 characters, and an app name is one label. */
const MAX_LABEL = 63;
const HASH_LENGTH = 6;

/**
 * Names the preview app of a branch: `<app>-<branch>` as one DNS label. The branch is
 * lowercased and every run of other characters than letters and digits becomes one `-`
 * (`feature/Login_v2` gives `feature-login-v2`). A name that would pass 63 characters is cut and
 * ends with 6 hex digits of the branch's sha1, so long branches that share a prefix differ.
 */
export function previewAppName(app: string, branch: string, options: { withHash?: boolean } = {}): string {
  const slug = branch.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'branch';
  const plain = `${app}-${slug}`;
  if (plain.length <= MAX_LABEL && !options.withHash) return plain;

  const hash = createHash('sha1').update(branch).digest('hex').slice(0, HASH_LENGTH);
  const room = MAX_LABEL - HASH_LENGTH - 1;
  return `${plain.slice(0, room).replace(/-+$/, '')}-${hash}`;
}

export async function findPreviewApp(db: Database, parent: AppRow, branch: string): Promise<AppRow | null> {
  const [preview] = await db.select().from(apps).where(and(eq(apps.parentAppId, parent.id), eq(apps.gitBranch, branch)));
  return preview ?? null;
}

/**
 * Returns the preview app of a branch, creating it on the branch's first push with a copy
 * of the parent's environment, health check and volume declarations (the volumes start
 * empty). Published ports are not copied, because a host port serves one app. When
 * another app has the plain name already, the name with the branch's hash is used.
 */
export async function ensurePreviewApp(db: Database, parent: AppRow, branch: string): Promise<{ app: AppRow; created: boolean }> {
  const existing = await findPreviewApp(db, parent, branch);
  if (existing) return { app: existing, created: false };

  for (const name of [previewAppName(parent.name, branch), previewAppName(parent.name, branch, { withHash: true })]) {
    const created = await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(apps)
        .values({ name, owner: parent.owner, env: parent.env, healthCheck: parent.healthCheck, parentAppId: parent.id, gitBranch: branch })
        .onConflictDoNothing()
        .returning();
      if (!row) return null;
      const parentVolumes = await tx.select().from(volumes).where(eq(volumes.appId, parent.id));
      if (parentVolumes.length > 0) await tx.insert(volumes).values(parentVolumes.map((volume) => ({ appId: row.id, name: volume.name, path: volume.path })));
      return row;
    });
    if (created) return { app: created, created: true };
  }
  throw new ConflictError(
    'PREVIEW_APP_NAME_TAKEN',
    `The preview app names for branch ${branch} (${previewAppName(parent.name, branch)} and ${previewAppName(parent.name, branch, { withHash: true })}) are taken by other apps: rename the branch.`,
    { details: { branch } },
  );
}
