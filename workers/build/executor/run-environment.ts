import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BindMount } from '../../../shared/container/runtime-spec.ts';
import { containerResolvConf } from '../../../shared/network/resolv-conf.ts';

/** The hostname of build containers; BuildKit uses a fixed one too (`buildkitsandbox`). */
export const BUILD_HOSTNAME = 'slipway-build';

/** PATH that RUN gets when the image sets none, as docker and BuildKit give it. */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Writes /etc/resolv.conf, /etc/hosts and /etc/hostname for a RUN container into
 * `folder` and returns them as read-only bind mounts, so the step can resolve names and
 * its own hostname but cannot change these files in the image. Without `ipAddress`
 * (`RUN --network=none`) the hostname resolves to loopback.
 */
export async function writeNetworkFiles(folder: string, ipAddress: string | undefined): Promise<BindMount[]> {
  await mkdir(folder, { recursive: true });
  const files = {
    'resolv.conf': await containerResolvConf(),
    hosts: `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${ipAddress ?? '127.0.1.1'}\t${BUILD_HOSTNAME}\n`,
    hostname: `${BUILD_HOSTNAME}\n`,
  };

  const mounts: BindMount[] = [];
  for (const [name, content] of Object.entries(files)) {
    const source = path.join(folder, name);
    await writeFile(source, content, { mode: 0o644 });
    mounts.push({ source, destination: `/etc/${name}`, readOnly: true });
  }
  return mounts;
}

/** Returns the environment of a RUN process: the step's variables, its proxy variables, and PATH when neither sets it. */
export function runEnvironment(env: readonly string[], proxyEnv: readonly string[]): string[] {
  const all = [...env, ...proxyEnv];
  return all.some((entry) => entry.startsWith('PATH=')) ? all : [...all, DEFAULT_PATH];
}
