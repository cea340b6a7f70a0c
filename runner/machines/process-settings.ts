import { ValidationError } from '../../shared/errors.ts';
import type { ImageConfig } from '../../shared/oci/image-types.ts';

/** The port an app gets in PORT when its image exposes none and sets none, as Cloud Run does. */
export const DEFAULT_APP_PORT = 8080;

export interface ProcessSettings {
  args: string[];
  env: string[];
  cwd: string;
  user: string;
  /** The TCP port the ingress sends requests to. */
  port: number;
}

/**
 * Derives how to run an image: ENTRYPOINT + CMD, the image's Env with the release's
 * variables over it, and the port: the first exposed TCP port, else PORT from the
 * environment, else DEFAULT_APP_PORT (which is then also put into PORT).
 */
export function processSettings(image: ImageConfig, releaseEnv: Record<string, string>): ProcessSettings {
  const config = image.config ?? {};
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length === 0) {
    throw new ValidationError('IMAGE_HAS_NO_COMMAND', 'The image has neither ENTRYPOINT nor CMD: add a CMD to the Dockerfile, for example CMD ["python3", "app.py"].');
  }

  const env = new Map<string, string>();
  for (const entry of config.Env ?? []) {
    const equals = entry.indexOf('=');
    if (equals > 0) env.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  for (const [name, value] of Object.entries(releaseEnv)) env.set(name, value);
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');

  const port = exposedTcpPort(config.ExposedPorts) ?? portFromEnv(env.get('PORT')) ?? DEFAULT_APP_PORT;
  if (!env.has('PORT')) env.set('PORT', String(port));

  return {
    args,
    env: [...env].map(([name, value]) => `${name}=${value}`),
    cwd: config.WorkingDir || '/',
    user: config.User ?? '',
    port,
  };
}

function exposedTcpPort(exposed: Record<string, unknown> | undefined): number | undefined {
  const ports = Object.keys(exposed ?? {})
    .filter((key) => !key.endsWith('/udp') && !key.endsWith('/sctp'))
    .map((key) => Number(key.split('/')[0]))
    .filter((port) => Number.isInteger(port) && port > 0 && port < 65536);
  return ports.length > 0 ? Math.min(...ports) : undefined;
}

function portFromEnv(value: string | undefined): number | undefined {
  const port = Number(value);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}
