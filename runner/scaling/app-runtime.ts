import { eq } from 'drizzle-orm';
import type { AppRow, ReleaseRow } from '../../shared/apps/app-records.ts';
import type { Database } from '../../shared/db/database.ts';
import { apps, releases, volumes } from '../../shared/db/schema.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import type { MachinePlan } from '../machines/machine.ts';
import type { VolumeSpec } from '../volumes/volume-folders.ts';

/** An app with one of its releases and its volumes: what a machine of that release needs. */
export interface AppRuntime {
  app: AppRow;
  release: ReleaseRow;
  volumes: VolumeSpec[];
}

/** Loads an app with a release (its current one by default); null when either does not exist. */
export async function loadAppRuntime(db: Database, where: { appId: string } | { appName: string }, releaseId?: string): Promise<AppRuntime | null> {
  const condition = 'appId' in where ? eq(apps.id, where.appId) : eq(apps.name, where.appName);
  const [app] = await db.select().from(apps).where(condition);
  const wantedRelease = releaseId ?? app?.currentReleaseId;
  if (!app || !wantedRelease) return null;

  const [release] = await db.select().from(releases).where(eq(releases.id, wantedRelease));
  if (!release) return null;
  const appVolumes = await db.select().from(volumes).where(eq(volumes.appId, app.id));
  return { app, release, volumes: appVolumes.map((volume) => ({ name: volume.name, path: volume.path })) };
}

export function machinePlanOf(runtime: AppRuntime): Omit<MachinePlan, 'machineId'> {
  const { app, release } = runtime;
  return {
    app: { id: app.id, name: app.name },
    release: { id: release.id, version: release.version, imageDigest: release.imageDigest as Digest, env: release.env },
    volumes: runtime.volumes,
    healthCheck: app.healthCheck,
  };
}

/**
 * Returns the maximum number of containers an app may run at once: its `max`, but one for
 * an app with a volume unless it opted in, because two processes writing one folder need
 * to agree on locking.
 */
export function machineLimitOf(app: Pick<AppRow, 'maxMachines' | 'allowScaleWithVolume'>, volumeCount: number): number {
  const max = Math.max(1, app.maxMachines);
  return volumeCount > 0 && !app.allowScaleWithVolume ? 1 : max;
}
