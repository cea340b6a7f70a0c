import { sql } from 'drizzle-orm';
import { bigint, boolean, doublePrecision, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/**
 * The database schema. Migrations in migrations/ are generated from this file with
 * `npm run db:generate`; never edit a generated migration by hand.
 */

export interface AppHealthCheck {
  type: 'http' | 'tcp';
  /** For `http`: the path that must answer 2xx or 3xx. */
  path?: string;
  intervalS: number;
  timeoutS: number;
  retries: number;
  /** Seconds after a start during which failed probes do not count, as Docker's --start-period. */
  startPeriodS?: number;
}

/** Why a machine's process last ended without the runner asking, for a crash loop in the app's status. */
export interface MachineExit {
  exitCode: number;
  /**
   * `exited` on its own, `unhealthy` when the runner stopped it after failed health checks,
   * or `out-of-memory` when the kernel's OOM killer ended it at the memory limit.
   */
  reason: 'exited' | 'unhealthy' | 'out-of-memory';
  /** For `out-of-memory`: the container's memory limit in bytes. */
  memoryLimitBytes?: number;
  at: string;
  /** The container's last lines of output before the exit, oldest first. */
  logTail: string[];
}

export interface PublishedPort {
  host: number;
  container: number;
}

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const apiTokens = pgTable('api_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** sha256 of the token; the token itself is never stored. */
  tokenHash: text('token_hash').notNull().unique(),
  /** The account the token acts for; apps belong to the owner of the token that made them. */
  owner: text('owner').notNull().default('admin'),
  createdAt: createdAt(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
});

export const apps = pgTable('apps', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  owner: text('owner').notNull().default('admin'),
  /** Environment variables that the next release gets. */
  env: jsonb('env').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
  currentReleaseId: uuid('current_release_id'),
  /** Scaling: containers kept running (0 lets an idle app stop), the most it may run, and requests in flight per container before another starts. */
  minMachines: integer('min_machines').notNull().default(0),
  maxMachines: integer('max_machines').notNull().default(1),
  concurrency: integer('concurrency').notNull().default(80),
  /** Seconds without a request or open connection after which a container above `minMachines` stops. */
  idleTimeoutS: integer('idle_timeout_s').notNull().default(300),
  /** The app's own health check; the image's HEALTHCHECK applies when null. */
  healthCheck: jsonb('health_check').$type<AppHealthCheck>(),
  /** Host TCP ports forwarded to container ports, as `docker run -p host:container`. */
  publishedPorts: jsonb('published_ports').$type<PublishedPort[]>().notNull().default(sql`'[]'::jsonb`),
  /** Per-app limits; the runner's defaults apply when null. */
  memoryBytes: bigint('memory_bytes', { mode: 'number' }),
  cpus: doublePrecision('cpus'),
  pidsLimit: integer('pids_limit'),
  /** Whether an app with a volume may run more than one container at once. */
  allowScaleWithVolume: boolean('allow_scale_with_volume').notNull().default(false),
  /** Runs the app's containers in a user namespace, so that root inside is an unprivileged user on the host. */
  userNamespace: boolean('user_namespace').notNull().default(false),
  /** A preview app made by pushing a branch: the app it previews and the branch. */
  parentAppId: uuid('parent_app_id'),
  gitBranch: text('git_branch'),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type BuildStatus = 'queued' | 'building' | 'succeeded' | 'failed';

export interface BuildFailure {
  code: string;
  message: string;
  /** 1-based Dockerfile line of the failing instruction, when one failed. */
  line?: number;
  exitCode?: number;
}

export const builds = pgTable('builds', {
  id: uuid('id').primaryKey().defaultRandom(),
  appId: uuid('app_id')
    .notNull()
    .references(() => apps.id, { onDelete: 'cascade' }),
  status: text('status').$type<BuildStatus>().notNull().default('queued'),
  contextDigest: text('context_digest').notNull(),
  contextSize: bigint('context_size', { mode: 'number' }).notNull(),
  dockerfile: text('dockerfile').notNull().default('Dockerfile'),
  /** `--build-arg` values for this build. */
  buildArgs: jsonb('build_args').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
  /** The stage to build (`--target`); the last stage when null. */
  target: text('target'),
  noCache: boolean('no_cache').notNull().default(false),
  /**
   * AES key (hex) of the build's secrets, which wait sealed in Redis; cleared when the
   * build takes them (workers/build/build-secrets.ts). Null for a build without secrets.
   */
  secretsKey: text('secrets_key'),
  /** For a build of a git push: the pushed commit and ref. */
  gitCommit: text('git_commit'),
  gitRef: text('git_ref'),
  /** Manifest digest of the built image. */
  imageDigest: text('image_digest'),
  error: jsonb('error').$type<BuildFailure>(),
  /** The build output, stored as a blob once the build ends. */
  logDigest: text('log_digest'),
  createdAt: createdAt(),
  startedAt: timestamp('started_at', { withTimezone: true }),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
});

export type DeployStatus = 'building' | 'releasing' | 'succeeded' | 'failed';

/** One deploy request: a build, then a release of its image. */
export const deploys = pgTable('deploys', {
  id: uuid('id').primaryKey().defaultRandom(),
  appId: uuid('app_id')
    .notNull()
    .references(() => apps.id, { onDelete: 'cascade' }),
  buildId: uuid('build_id').references(() => builds.id, { onDelete: 'set null' }),
  releaseId: uuid('release_id'),
  status: text('status').$type<DeployStatus>().notNull().default('building'),
  error: jsonb('error').$type<{ code: string; message: string }>(),
  createdAt: createdAt(),
  finishedAt: timestamp('finished_at', { withTimezone: true }),
});

export type ReleaseStatus = 'pending' | 'starting' | 'active' | 'superseded' | 'failed';

export const releases = pgTable(
  'releases',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    buildId: uuid('build_id'),
    imageDigest: text('image_digest').notNull(),
    /** How the release came about: a build, a pushed image, or a rollback to an earlier release. */
    source: text('source').$type<'build' | 'image' | 'rollback'>().notNull().default('build'),
    /** The app's environment when the release was made. */
    env: jsonb('env').$type<Record<string, string>>().notNull(),
    status: text('status').$type<ReleaseStatus>().notNull().default('pending'),
    error: jsonb('error').$type<{ code: string; message: string }>(),
    createdAt: createdAt(),
  },
  (table) => [uniqueIndex('releases_app_version').on(table.appId, table.version)],
);

export const volumes = pgTable(
  'volumes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    appId: uuid('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** Absolute path inside the container. */
    path: text('path').notNull(),
    /** The runner whose disk holds the volume, once it has been used. */
    runnerId: text('runner_id'),
    createdAt: createdAt(),
  },
  (table) => [
    uniqueIndex('volumes_app_name').on(table.appId, table.name),
    uniqueIndex('volumes_app_path').on(table.appId, table.path),
  ],
);

/** Image references (`name:tag`) that FROM can use, such as base images made by `base-images`. */
export const imageTags = pgTable(
  'image_tags',
  {
    name: text('name').notNull(),
    tag: text('tag').notNull(),
    digest: text('digest').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.name, table.tag] })],
);

export const runners = pgTable('runners', {
  id: text('id').primaryKey(),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
  createdAt: createdAt(),
});

export type MachineStatus = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A container of a release on a runner. */
export const machines = pgTable('machines', {
  id: text('id').primaryKey(),
  appId: uuid('app_id')
    .notNull()
    .references(() => apps.id, { onDelete: 'cascade' }),
  releaseId: uuid('release_id').notNull(),
  runnerId: text('runner_id').notNull(),
  status: text('status').$type<MachineStatus>().notNull(),
  ipAddress: text('ip_address'),
  port: integer('port'),
  exitCode: integer('exit_code'),
  restarts: integer('restarts').notNull().default(0),
  lastExit: jsonb('last_exit').$type<MachineExit>(),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * The build cache: a step's cache key (parent chain, instruction after substitution,
 * the args and env it sees, the checksums of files it copies) and the layer it made.
 * A step that changed no file has no layer. Any worker can reuse what another built.
 */
export const buildCacheEntries = pgTable('build_cache_entries', {
  key: text('key').primaryKey(),
  layerDigest: text('layer_digest'),
  diffId: text('diff_id'),
  layerSize: bigint('layer_size', { mode: 'number' }),
  mediaType: text('media_type'),
  createdAt: createdAt(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true }).notNull().defaultNow(),
});
