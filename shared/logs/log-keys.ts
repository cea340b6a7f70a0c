/** Redis keys of the log streams. Build logs are complete; app logs keep the newest lines. */
export function buildLogKey(buildId: string): string {
  return `log:build:${buildId}`;
}

export function appLogKey(appId: string): string {
  return `log:app:${appId}`;
}

/** Entries kept per build log stream; the whole log is also stored as a blob at the end. */
export const BUILD_LOG_MAX_ENTRIES = 200_000;
/** Entries kept per app; older lines are trimmed, as `docker logs` with a size-capped driver does. */
export const APP_LOG_MAX_ENTRIES = 10_000;
/** How long a finished build's stream stays in Redis before readers go to the stored blob. */
export const BUILD_LOG_EXPIRE_SECONDS = 24 * 3600;
