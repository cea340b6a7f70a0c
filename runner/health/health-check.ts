import type { AppHealthCheck } from '../../shared/db/schema.ts';
import type { ImageRunConfig } from '../../shared/oci/image-types.ts';

/**
 * Probe that decides whether a container is healthy. `http` requests a path and expects a
 * 2xx or 3xx status, `tcp` expects the port to accept a connection, and `exec` runs a
 * command inside the container (the image's HEALTHCHECK) and expects exit code 0.
 */
export type HealthProbe = { kind: 'http'; path: string } | { kind: 'tcp' } | { kind: 'exec'; command: string[] };

export interface HealthCheck {
  probe: HealthProbe;
  /** Origin of the check. A `default` check gates a start but never replaces a running container. */
  source: 'app' | 'image' | 'default';
  /** Time between probes once the container has been healthy, in ms. */
  intervalMs: number;
  /** Time between probes until the container is healthy for the first time, in ms. */
  startIntervalMs: number;
  timeoutMs: number;
  /** Consecutive failed probes after which a container counts as unhealthy. */
  retries: number;
  /** Time after a start during which failed probes do not count, in ms. */
  startPeriodMs: number;
}

/** Docker's defaults for a HEALTHCHECK that leaves a field at 0 (Docker Engine 25 reference). */
export const DOCKER_HEALTHCHECK_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 } as const;

/**
 * Time between probes until the first success when the image sets no start interval. Docker
 * uses 5 s; a shorter one lets a new release take traffic sooner, and a probe that fails
 * during the start period costs nothing.
 */
export const DEFAULT_START_INTERVAL_MS = 500;

/** Settings of the `default` check: the port accepts connections; used when neither the app nor the image has a check. */
const DEFAULT_CHECK: HealthCheck = {
  probe: { kind: 'tcp' },
  source: 'default',
  intervalMs: 10_000,
  startIntervalMs: DEFAULT_START_INTERVAL_MS,
  timeoutMs: 2000,
  retries: 3,
  startPeriodMs: 0,
};

/**
 * Chooses a container's health check: the app's own setting first, then the image's
 * HEALTHCHECK (unless it is `NONE`), else a check that the port accepts connections.
 */
export function resolveHealthCheck(appCheck: AppHealthCheck | null | undefined, imageCheck: ImageRunConfig['Healthcheck']): HealthCheck {
  if (appCheck) return fromAppSetting(appCheck);

  const command = imageCommand(imageCheck?.Test);
  if (!command || !imageCheck) return DEFAULT_CHECK;

  return {
    probe: { kind: 'exec', command },
    source: 'image',
    intervalMs: nanosToMs(imageCheck.Interval) ?? DOCKER_HEALTHCHECK_DEFAULTS.intervalMs,
    startIntervalMs: nanosToMs(imageCheck.StartInterval) ?? DEFAULT_START_INTERVAL_MS,
    timeoutMs: nanosToMs(imageCheck.Timeout) ?? DOCKER_HEALTHCHECK_DEFAULTS.timeoutMs,
    retries: imageCheck.Retries && imageCheck.Retries > 0 ? imageCheck.Retries : DOCKER_HEALTHCHECK_DEFAULTS.retries,
    startPeriodMs: nanosToMs(imageCheck.StartPeriod) ?? DOCKER_HEALTHCHECK_DEFAULTS.startPeriodMs,
  };
}

function fromAppSetting(check: AppHealthCheck): HealthCheck {
  return {
    probe: check.type === 'http' ? { kind: 'http', path: check.path ?? '/' } : { kind: 'tcp' },
    source: 'app',
    intervalMs: check.intervalS * 1000,
    startIntervalMs: Math.min(DEFAULT_START_INTERVAL_MS, check.intervalS * 1000),
    timeoutMs: check.timeoutS * 1000,
    retries: check.retries,
    startPeriodMs: (check.startPeriodS ?? 0) * 1000,
  };
}

/**
 * Turns a HEALTHCHECK test into the command to run: `CMD` is an exec form, `CMD-SHELL`
 * runs through /bin/sh -c as Docker does on Linux, and `NONE` or an empty test means no check.
 */
function imageCommand(test: string[] | undefined): string[] | undefined {
  const [kind, ...rest] = test ?? [];
  if (kind === 'CMD' && rest.length > 0) return rest;
  if (kind === 'CMD-SHELL' && rest.length > 0) return ['/bin/sh', '-c', rest.join(' ')];
  return undefined;
}

/** Image config durations are nanoseconds, and 0 or a missing field means the default. */
function nanosToMs(value: number | undefined): number | undefined {
  return value && value > 0 ? Math.max(1, Math.round(value / 1e6)) : undefined;
}
