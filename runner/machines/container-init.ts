import { access } from 'node:fs/promises';
import type { BindMount } from '../../shared/container/runtime-spec.ts';

/** The init's path inside a container, the same one `docker run --init` uses. */
export const CONTAINER_INIT_PATH = '/sbin/docker-init';
/** The statically linked tini of Debian's tini package, which runs in any image. */
export const HOST_INIT_PATH = '/usr/bin/tini-static';

export interface ContainerInit {
  mount: BindMount;
  /** Put before the app's own arguments: the init runs them as its child. */
  argsPrefix: string[];
}

/**
 * Returns the init to run as the container's pid 1, like `docker run --init`: tini
 * passes SIGTERM on to the app and reaps orphaned processes. Without it an app that runs
 * as pid 1 ignores SIGTERM unless it handles it (the kernel sends pid 1 no signal it has
 * no handler for), so every stop would wait out the grace period. Returns null when
 * disabled or when tini is not installed.
 */
export async function containerInit(enabled: boolean): Promise<ContainerInit | null> {
  if (!enabled) return null;
  try {
    await access(HOST_INIT_PATH);
  } catch {
    return null;
  }
  return {
    mount: { source: HOST_INIT_PATH, destination: CONTAINER_INIT_PATH, readOnly: true },
    // -g sends signals to the app's whole process group, so `sh -c 'app'` stops as well.
    argsPrefix: [CONTAINER_INIT_PATH, '-g', '--'],
  };
}
