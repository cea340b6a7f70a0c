import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError } from './errors.ts';
import { planSubnets } from './network/subnet-plan.ts';

/** The folder this checkout lives in; the default data folder sits inside it. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type Role = 'api' | 'worker' | 'runner';
const ALL_ROLES: readonly Role[] = ['api', 'worker', 'runner'];

export interface S3Config {
  bucket: string;
  endpoint?: string;
  region: string;
  /** Path-style addressing (`endpoint/bucket/key`), which MinIO and s3rver need. */
  forcePathStyle: boolean;
}

export interface Config {
  /** Everything this host keeps locally: PGlite, blob files, Redis, layers, volumes. */
  dataDir: string;
  /** Downloads worth keeping across data folders, such as the debootstrap tarball. */
  cacheDir: string;
  bindAddress: string;
  apiPort: number;
  /** The public ingress port; apps are served at http://<app>.<domain>:<httpPort>. */
  httpPort: number;
  domain: string;
  databaseUrl?: string;
  redisUrl?: string;
  s3?: S3Config;
  roles: Set<Role>;
  runnerId: string;
  /** Largest build context an upload may carry, in bytes. */
  maxContextBytes: number;
  buildConcurrency: number;
  /**
   * The containers' whole address range (SLIPWAY_BRIDGE_SUBNET), in CIDR form. Its first
   * block is `bridgeSubnet`; the others go to the owners' app networks (see subnet-plan.ts).
   */
  containerSubnet: string;
  /** IPv4 subnet of the main bridge, which build steps attach to: the first block of `containerSubnet`. */
  bridgeSubnet: string;
  bridgeName: string;
  /** Default limits of an app container; an app's own limits replace them. */
  containerMemoryBytes: number;
  containerPidsLimit: number;
  /** CPUs, as `docker run --cpus`: 1.5 is one and a half CPUs of time per period. */
  containerCpus: number;
  /** First host uid and gid of the range that containers in a user namespace map root onto (65536 ids). */
  userNamespaceHostId: number;
  /** Limits of one build step's container. */
  buildMemoryBytes: number;
  buildPidsLimit: number;
  buildStepTimeoutMs: number;
  /** Bytes of files one build may write into its layers, downloads of ADD included. */
  buildDiskBytes: number;
  /**
   * `host:port` pairs (lowercase) that ADD may fetch from although they are addresses of
   * the build host itself, such as a package mirror on the worker (SLIPWAY_BUILD_FETCH_ALLOW).
   */
  buildFetchAllow: ReadonlySet<string>;
  /** How long a git push waits for another push to the same repository to finish. */
  gitPushWaitMs: number;
  /** Largest pack a git push may send (git's receive.maxInputSize), in bytes. */
  gitMaxPushBytes: number;
  /** Largest blob (a layer, a config) a registry push may send, in bytes. */
  registryMaxBlobBytes: number;
  /** Whether app containers run tini as pid 1, as `docker run --init` does. */
  containerInit: boolean;
  /** How long a new container has to accept connections before its release fails. */
  startTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(env.SLIPWAY_DATA_DIR ?? path.join(PROJECT_ROOT, '.data'));
  const s3 = env.S3_BUCKET
    ? {
        bucket: env.S3_BUCKET,
        endpoint: env.S3_ENDPOINT || undefined,
        region: env.S3_REGION ?? env.AWS_REGION ?? 'us-east-1',
        forcePathStyle: readBoolean(env, 'S3_FORCE_PATH_STYLE', Boolean(env.S3_ENDPOINT)),
      }
    : undefined;

  return {
    dataDir,
    cacheDir: path.resolve(env.SLIPWAY_CACHE_DIR ?? path.join(dataDir, 'cache')),
    bindAddress: env.SLIPWAY_BIND_ADDRESS ?? '0.0.0.0',
    apiPort: readPort(env, 'SLIPWAY_API_PORT', 7070),
    httpPort: readPort(env, 'SLIPWAY_HTTP_PORT', 8080),
    domain: readDomain(env),
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    s3,
    roles: readRoles(env),
    runnerId: env.SLIPWAY_RUNNER_ID ?? hostname(),
    maxContextBytes: readInteger(env, 'SLIPWAY_MAX_CONTEXT_BYTES', 1024 ** 3, 1),
    buildConcurrency: readInteger(env, 'SLIPWAY_BUILD_CONCURRENCY', 2, 1),
    ...readSubnets(env),
    bridgeName: env.SLIPWAY_BRIDGE_NAME ?? 'slipway0',
    containerMemoryBytes: readInteger(env, 'SLIPWAY_CONTAINER_MEMORY_BYTES', 512 * 1024 ** 2, 16 * 1024 ** 2),
    containerPidsLimit: readInteger(env, 'SLIPWAY_CONTAINER_PIDS_LIMIT', 1024, 8),
    containerCpus: readDecimal(env, 'SLIPWAY_CONTAINER_CPUS', 1, 0.01, 1024),
    // 65536 ids from here must be free on the host: no user, /etc/subuid entry or other runtime may use them.
    userNamespaceHostId: readInteger(env, 'SLIPWAY_USERNS_HOST_ID', 1_000_000, 65_536, 2 ** 32 - 1 - 65_536),
    buildMemoryBytes: readInteger(env, 'SLIPWAY_BUILD_MEMORY_BYTES', 2 * 1024 ** 3, 64 * 1024 ** 2),
    buildPidsLimit: readInteger(env, 'SLIPWAY_BUILD_PIDS_LIMIT', 4096, 8),
    buildStepTimeoutMs: readInteger(env, 'SLIPWAY_BUILD_STEP_TIMEOUT_S', 1800, 1) * 1000,
    buildDiskBytes: readInteger(env, 'SLIPWAY_BUILD_DISK_BYTES', 10 * 1024 ** 3, 1024 ** 2),
    buildFetchAllow: readHostPorts(env, 'SLIPWAY_BUILD_FETCH_ALLOW'),
    gitPushWaitMs: readInteger(env, 'SLIPWAY_GIT_PUSH_WAIT_S', 600, 0) * 1000,
    gitMaxPushBytes: readInteger(env, 'SLIPWAY_GIT_MAX_PUSH_BYTES', 4 * 1024 ** 3, 1024 ** 2),
    registryMaxBlobBytes: readInteger(env, 'SLIPWAY_REGISTRY_MAX_BLOB_BYTES', 10 * 1024 ** 3, 1024),
    startTimeoutMs: readInteger(env, 'SLIPWAY_START_TIMEOUT_S', 30, 1) * 1000,
    containerInit: readBoolean(env, 'SLIPWAY_CONTAINER_INIT', true),
  };
}

function readInteger(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ValidationError(
      'CONFIG_INVALID',
      `${name}=${JSON.stringify(raw)} is invalid: set it to a whole number from ${min} to ${max}, or unset it to use ${fallback}.`,
    );
  }
  return value;
}

function readDecimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;

  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ValidationError(
      'CONFIG_INVALID',
      `${name}=${JSON.stringify(raw)} is invalid: set it to a number from ${min} to ${max}, or unset it to use ${fallback}.`,
    );
  }
  return value;
}

function readSubnets(env: Env): Pick<Config, 'containerSubnet' | 'bridgeSubnet'> {
  try {
    const plan = planSubnets(env.SLIPWAY_BRIDGE_SUBNET ?? '10.209.0.0/16');
    return { containerSubnet: plan.range, bridgeSubnet: plan.buildSubnet };
  } catch (error) {
    throw new ValidationError('CONFIG_INVALID', `SLIPWAY_BRIDGE_SUBNET is invalid: ${(error as Error).message}`, { cause: error });
  }
}

function readPort(env: Env, name: string, fallback: number): number {
  return readInteger(env, name, fallback, 0, 65535);
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(raw.toLowerCase())) return false;
  throw new ValidationError('CONFIG_INVALID', `${name}=${JSON.stringify(raw)} is invalid: set it to true or false.`);
}

function readDomain(env: Env): string {
  const domain = (env.SLIPWAY_DOMAIN ?? 'localhost').toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) {
    throw new ValidationError(
      'CONFIG_INVALID',
      `SLIPWAY_DOMAIN=${JSON.stringify(env.SLIPWAY_DOMAIN)} is not a DNS name: set it to a name such as apps.example.com.`,
    );
  }
  return domain;
}

/** Reads a comma-separated list of `host:port` pairs; an IPv6 host is written in brackets. */
function readHostPorts(env: Env, name: string): ReadonlySet<string> {
  const pairs = new Set<string>();
  for (const part of (env[name] ?? '').split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean)) {
    const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+):(\d{1,5})$/.exec(part);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ValidationError('CONFIG_INVALID', `${name} contains ${JSON.stringify(part)}: use a comma-separated list of host:port pairs, such as 127.0.0.1:3142.`);
    }
    pairs.add(part);
  }
  return pairs;
}

function readRoles(env: Env): Set<Role> {
  const raw = env.SLIPWAY_ROLES;
  if (!raw) return new Set(ALL_ROLES);

  const roles = new Set<Role>();
  for (const part of raw.split(',').map((role) => role.trim()).filter(Boolean)) {
    if (!ALL_ROLES.includes(part as Role)) {
      throw new ValidationError(
        'CONFIG_INVALID',
        `SLIPWAY_ROLES contains ${JSON.stringify(part)}: use a comma-separated list of ${ALL_ROLES.join(', ')}.`,
      );
    }
    roles.add(part as Role);
  }
  return roles;
}

/** Returns the public URL of an app, without the port when it is the HTTP default. */
export function appUrl(config: Pick<Config, 'domain' | 'httpPort'>, app: string): string {
  const port = config.httpPort === 80 ? '' : `:${config.httpPort}`;
  return `http://${app}.${config.domain}${port}/`;
}
