import { measureFolderBytes, type DiskBudget } from '../build-limits.ts';

/** How often a running step's upper folder is measured. */
const WATCH_INTERVAL_MS = 1000;

/**
 * Measures a running step's upper folder once a second and calls `onExceeded` once when
 * the build goes over its disk budget. The limit is a check, not a quota: a step can
 * write more than the budget within one interval before it is stopped, but RLIMIT_FSIZE
 * (set in its runtime spec) keeps any single file within it.
 */
export function watchDiskUse(upperDir: string, budget: DiskBudget, onExceeded: () => void): { stop(): Promise<void> } {
  let stopped = false;
  let measuring: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const tick = () => {
    measuring = measureFolderBytes(upperDir)
      .then((bytes) => {
        if (stopped) return;
        if (budget.exceededBy(bytes)) {
          stopped = true;
          onExceeded();
          return;
        }
        timer = setTimeout(tick, WATCH_INTERVAL_MS);
      })
      // The folder may be gone or half removed when the step ends, and the step's end measures it again.
      .catch(() => undefined);
  };
  timer = setTimeout(tick, WATCH_INTERVAL_MS);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await measuring;
    },
  };
}
