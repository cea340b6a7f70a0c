import { desc, eq, max } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { apps, releases } from '../db/schema.ts';
import { NotFoundError } from '../errors.ts';

export type AppRow = typeof apps.$inferSelect;
export type ReleaseRow = typeof releases.$inferSelect;

export class AppNotFoundError extends NotFoundError {
  constructor(name: string) {
    super('APP_NOT_FOUND', `App ${JSON.stringify(name)} does not exist; list apps with "slipway apps list" or create it with "slipway apps create ${name}".`, {
      details: { app: name },
    });
  }
}

export async function findAppByName(db: Database, name: string): Promise<AppRow> {
  const [app] = await db.select().from(apps).where(eq(apps.name, name));
  if (!app) throw new AppNotFoundError(name);
  return app;
}

export async function listReleases(db: Database, appId: string): Promise<ReleaseRow[]> {
  return db.select().from(releases).where(eq(releases.appId, appId)).orderBy(desc(releases.version));
}

export async function nextReleaseVersion(db: Database, appId: string): Promise<number> {
  const [row] = await db.select({ latest: max(releases.version) }).from(releases).where(eq(releases.appId, appId));
  return (row?.latest ?? 0) + 1;
}

/** Releases are shown to users as `v1`, `v2`, … */
export function releaseLabel(version: number): string {
  return `v${version}`;
}
