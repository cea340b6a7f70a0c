import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { builds, type BuildFailure, type BuildStatus } from '../db/schema.ts';
import { SystemError } from '../errors.ts';

/** The build state machine: which status may follow which. */
const ALLOWED: Record<BuildStatus, readonly BuildStatus[]> = {
  queued: ['building', 'failed'],
  building: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

export class InvalidBuildTransitionError extends SystemError {
  constructor(buildId: string, from: BuildStatus | 'missing', to: BuildStatus) {
    super('BUILD_TRANSITION_INVALID', `Build ${buildId} cannot go from ${from} to ${to}.`, { details: { buildId, from, to } });
  }
}

export interface BuildTransitionFields {
  imageDigest?: string;
  error?: BuildFailure;
  logDigest?: string;
}

/**
 * Moves a build to `to`, checking the transition against the table and the row's
 * current status in one conditional update, so two workers cannot both take a build.
 */
export async function transitionBuild(db: Database, buildId: string, to: BuildStatus, fields: BuildTransitionFields = {}): Promise<void> {
  const [row] = await db.select({ status: builds.status }).from(builds).where(eq(builds.id, buildId));
  const from = row?.status;
  if (!from || !ALLOWED[from].includes(to)) throw new InvalidBuildTransitionError(buildId, from ?? 'missing', to);

  const now = new Date();
  const updated = await db
    .update(builds)
    .set({
      status: to,
      ...fields,
      ...(to === 'building' ? { startedAt: now } : {}),
      ...(to === 'succeeded' || to === 'failed' ? { finishedAt: now } : {}),
    })
    .where(and(eq(builds.id, buildId), eq(builds.status, from)))
    .returning({ id: builds.id });
  if (updated.length === 0) throw new InvalidBuildTransitionError(buildId, from, to);
}
