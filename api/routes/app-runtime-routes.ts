import net from 'node:net';
import { Hono } from 'hono';
import { and, eq, ne } from 'drizzle-orm';
import { z } from 'zod';
import { findAppByName, releaseLabel, type AppRow } from '../../shared/apps/app-records.ts';
import { USER_NAMESPACE_SIZE } from '../../shared/container/user-namespace-root.ts';
import { apps, deploys, releases, volumes, type AppHealthCheck, type PublishedPort } from '../../shared/db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import type { Digest } from '../../shared/oci/digest.ts';
import { resolveHealthCheck, type HealthCheck } from '../../runner/health/health-check.ts';
import { createRelease } from '../../workers/release/create-release.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { ADMIN_OWNER } from '../auth/api-tokens.ts';
import { parseJsonBody } from '../request-body.ts';

/** Bounds of the scale settings; a runner host decides how many containers really fit. */
const MAX_MACHINES_LIMIT = 100;
const MAX_CONCURRENCY = 1000;
const MAX_IDLE_TIMEOUT_S = 7 * 24 * 3600;
/** Published ports per app; each is one DNAT rule and one reserved host port. */
const MAX_PUBLISHED_PORTS = 32;

const scaleBody = z
  .object({
    min: z.number().int().min(0).max(MAX_MACHINES_LIMIT).optional(),
    max: z.number().int().min(1).max(MAX_MACHINES_LIMIT).optional(),
    concurrency: z.number().int().min(1).max(MAX_CONCURRENCY).optional(),
    idle_timeout_s: z.number().int().min(1).max(MAX_IDLE_TIMEOUT_S).optional(),
    allow_scale_with_volume: z.boolean().optional(),
  })
  .strict();

const rollbackBody = z.object({ release: z.union([z.string(), z.number().int()]) }).strict();

const healthBody = z
  .object({
    type: z.enum(['http', 'tcp']),
    path: z.string().optional(),
    interval_s: z.number().int().min(1).max(3600).default(10),
    timeout_s: z.number().int().min(1).max(300).default(2),
    retries: z.number().int().min(1).max(100).default(3),
    start_period_s: z.number().int().min(0).max(3600).default(0),
  })
  .strict();

/**
 * Serves how an app runs: scaling (`/scale`), rollback to an earlier release (`/rollback`)
 * and the health check (`/health`). Settings apply to the containers that start after the change.
 */
export function appRuntimeRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db } = deps;
  const routes = new Hono<ApiEnv>();

  routes.get('/:app/scale', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    return c.json(scaleSettings(app));
  });

  // Fields left out keep their value, so `{"min": 1}` changes only min.
  routes.put('/:app/scale', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, scaleBody);
    const next = {
      minMachines: body.min ?? app.minMachines,
      maxMachines: body.max ?? app.maxMachines,
      concurrency: body.concurrency ?? app.concurrency,
      idleTimeoutS: body.idle_timeout_s ?? app.idleTimeoutS,
      allowScaleWithVolume: body.allow_scale_with_volume ?? app.allowScaleWithVolume,
    };
    if (next.minMachines > next.maxMachines) {
      throw new ValidationError('SCALE_INVALID', `min (${next.minMachines}) is larger than max (${next.maxMachines}): set min to at most max.`, {
        details: { min: next.minMachines, max: next.maxMachines },
      });
    }
    await checkVolumeScaling(deps, app, next);

    const [updated] = await db.update(apps).set({ ...next, updatedAt: new Date() }).where(eq(apps.id, app.id)).returning();
    deps.log.info({ app: app.name, appId: app.id, ...next }, 'app scale set');
    return c.json(scaleSettings(updated!));
  });

  routes.post('/:app/rollback', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, rollbackBody);
    const target = await findRollbackTarget(deps, app, body.release);

    const [deploy] = await db.insert(deploys).values({ appId: app.id, status: 'releasing' }).returning();
    const releaseId = await createRelease(deps, {
      appId: app.id,
      buildId: target.buildId,
      imageDigest: target.imageDigest,
      deployId: deploy!.id,
      source: 'rollback',
      env: target.env,
    });
    const [release] = await db.select().from(releases).where(eq(releases.id, releaseId));
    deps.log.info({ app: app.name, appId: app.id, release: release!.version, rolledBackTo: target.version, deployId: deploy!.id }, 'rollback requested');
    return c.json(
      {
        release: {
          version: releaseLabel(release!.version),
          id: release!.id,
          status: release!.status,
          source: release!.source,
          imageDigest: release!.imageDigest,
          rolledBackTo: releaseLabel(target.version),
        },
        deploy: { id: deploy!.id },
      },
      202,
    );
  });

  routes.get('/:app/health', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    return c.json(await describeHealth(deps, app));
  });

  routes.put('/:app/health', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, healthBody);
    const check = toHealthSetting(body);
    await db.update(apps).set({ healthCheck: check, updatedAt: new Date() }).where(eq(apps.id, app.id));
    deps.log.info({ app: app.name, appId: app.id, type: check.type, path: check.path }, 'app health check set');
    return c.json(await describeHealth(deps, { ...app, healthCheck: check }));
  });

  // Removes the app's own check, so the image's HEALTHCHECK (or a port check) applies again.
  routes.delete('/:app/health', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    await db.update(apps).set({ healthCheck: null, updatedAt: new Date() }).where(eq(apps.id, app.id));
    deps.log.info({ app: app.name, appId: app.id }, 'app health check removed');
    return c.json(await describeHealth(deps, { ...app, healthCheck: null }));
  });

  // ---- Published ports: GET/PUT /:app/ports (and per-app limits) are added below this line. ----

  routes.get('/:app/ports', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    return c.json(app.publishedPorts);
  });

  // Replaces the app's published ports; the runner applies them to a running app within
  // PORT_SYNC_INTERVAL_MS (runner/network/port-publisher.ts), without a restart.
  routes.put('/:app/ports', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const ports = await parseJsonBody(c, portsBody);
    await checkPublishedPorts(deps, app, ports, c.get('owner'));
    await db.update(apps).set({ publishedPorts: ports, updatedAt: new Date() }).where(eq(apps.id, app.id));
    deps.log.info({ app: app.name, appId: app.id, ports: ports.map((port) => `${port.host}:${port.container}`) }, 'app ports set');
    return c.json(ports);
  });

  routes.get('/:app/limits', (c) => findAppByName(db, c.req.param('app')).then((app) => c.json(describeLimits(deps, app))));

  // Fields left out keep their value and null returns a field to the runner's default.
  // Limits apply to containers that start after the change, such as those of the next deploy.
  routes.put('/:app/limits', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, limitsBody);
    const next = {
      memoryBytes: body.memory_bytes === undefined ? app.memoryBytes : body.memory_bytes,
      cpus: body.cpus === undefined ? app.cpus : body.cpus,
      pidsLimit: body.pids === undefined ? app.pidsLimit : body.pids,
    };
    const [updated] = await db.update(apps).set({ ...next, updatedAt: new Date() }).where(eq(apps.id, app.id)).returning();
    deps.log.info({ app: app.name, appId: app.id, ...next }, 'app limits set');
    return c.json(describeLimits(deps, updated!));
  });

  routes.get('/:app/isolation', (c) => findAppByName(db, c.req.param('app')).then((app) => c.json(describeIsolation(deps, app))));

  // Turns the user namespace on or off for containers that start after the change.
  routes.put('/:app/isolation', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, isolationBody);
    const [updated] = await db.update(apps).set({ userNamespace: body.user_namespace, updatedAt: new Date() }).where(eq(apps.id, app.id)).returning();
    deps.log.info({ app: app.name, appId: app.id, userNamespace: body.user_namespace }, 'app isolation set');
    return c.json(describeIsolation(deps, updated!));
  });

  return routes;
}

const tcpPort = z.number().int().min(1).max(65_535);
const portsBody = z.array(z.object({ host: tcpPort, container: tcpPort }).strict()).max(MAX_PUBLISHED_PORTS);

/** Memory from 16 MiB (what a container needs to start) to 1 TiB; pids from 8 to Linux's default pid_max. */
const limitsBody = z
  .object({
    memory_bytes: z.number().int().min(16 * 1024 ** 2).max(1024 ** 4).nullable().optional(),
    cpus: z.number().min(0.01).max(1024).nullable().optional(),
    pids: z.number().int().min(8).max(4_194_304).nullable().optional(),
  })
  .strict();

const isolationBody = z.object({ user_namespace: z.boolean() }).strict();

/**
 * Rejects duplicate host ports (400), and host ports that Slipway's API or ingress listen
 * on or that another app publishes (409). Another owner's app is not named.
 * NOTE: two requests that publish the same port at the same moment can both pass. The
 * runner then publishes it for one app and logs an error for the other.
 */
async function checkPublishedPorts(deps: ApiDeps, app: AppRow, ports: PublishedPort[], owner: string): Promise<void> {
  const seen = new Set<number>();
  for (const port of ports) {
    if (seen.has(port.host)) {
      throw new ValidationError('PORT_DUPLICATE', `Host port ${port.host} appears twice: publish each host port once.`, { details: { host: port.host } });
    }
    seen.add(port.host);
  }

  const reserved = new Map([
    [deps.config.apiPort, "Slipway's API"],
    [deps.config.httpPort, "Slipway's ingress"],
  ]);
  for (const port of ports) {
    const user = reserved.get(port.host);
    if (user) throw new ConflictError('PORT_IN_USE', `Host port ${port.host} is ${user} port: choose another host port.`, { details: { host: port.host } });
  }

  const others = await deps.db.select({ name: apps.name, owner: apps.owner, publishedPorts: apps.publishedPorts }).from(apps).where(ne(apps.id, app.id));
  for (const other of others) {
    const clash = other.publishedPorts.find((published) => seen.has(published.host));
    if (!clash) continue;
    const publisher = other.owner === owner || owner === ADMIN_OWNER ? `app ${other.name}` : 'another app';
    throw new ConflictError('PORT_IN_USE', `Host port ${clash.host} is published by ${publisher} already: choose another host port.`, { details: { host: clash.host } });
  }

  // With the runner in this process (the one-host setup) a port that another program on
  // the host listens on could never be published, so the request fails now instead of a
  // line in the runner's log. The app's own ports are held by the runner already and are left out.
  if (!deps.config.roles.has('runner')) return;
  const own = new Set(app.publishedPorts.map((published) => published.host));
  for (const port of ports) {
    if (own.has(port.host) || (await isHostPortFree(port.host))) continue;
    throw new ConflictError('PORT_IN_USE', `Host port ${port.host} is in use by another program on this host: stop it, or choose another host port.`, {
      details: { host: port.host },
    });
  }
}

/** Checks whether a TCP listener could bind `port` on all IPv4 addresses now, as the runner's port publisher does. */
function isHostPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function describeLimits(deps: ApiDeps, app: AppRow) {
  const defaults = { memory_bytes: deps.config.containerMemoryBytes, cpus: deps.config.containerCpus, pids: deps.config.containerPidsLimit };
  const own = { memory_bytes: app.memoryBytes, cpus: app.cpus, pids: app.pidsLimit };
  return {
    ...own,
    defaults,
    effective: { memory_bytes: own.memory_bytes ?? defaults.memory_bytes, cpus: own.cpus ?? defaults.cpus, pids: own.pids ?? defaults.pids },
  };
}

function describeIsolation(deps: ApiDeps, app: AppRow) {
  const first = deps.config.userNamespaceHostId;
  return {
    user_namespace: app.userNamespace,
    ...(app.userNamespace ? { host_ids: `${first}-${first + USER_NAMESPACE_SIZE - 1}` } : {}),
  };
}

function scaleSettings(app: AppRow) {
  return {
    min: app.minMachines,
    max: app.maxMachines,
    concurrency: app.concurrency,
    idle_timeout_s: app.idleTimeoutS,
    allow_scale_with_volume: app.allowScaleWithVolume,
  };
}

/** An app with a volume runs one container unless it opts in, because two processes writing one folder must coordinate. */
async function checkVolumeScaling(deps: ApiDeps, app: AppRow, next: { maxMachines: number; allowScaleWithVolume: boolean }): Promise<void> {
  if (next.maxMachines <= 1 || next.allowScaleWithVolume) return;
  const [volume] = await deps.db.select({ name: volumes.name }).from(volumes).where(eq(volumes.appId, app.id)).limit(1);
  if (!volume) return;
  throw new ConflictError(
    'SCALE_WITH_VOLUME',
    `App ${app.name} has volume ${volume.name}, so it runs one container: to run up to ${next.maxMachines} that share the volume, ` +
      'send "allow_scale_with_volume": true as well.',
    { details: { volume: volume.name, max: next.maxMachines } },
  );
}

async function findRollbackTarget(deps: ApiDeps, app: AppRow, label: string | number) {
  const version = typeof label === 'number' ? label : Number(/^v?(\d+)$/i.exec(label.trim())?.[1] ?? Number.NaN);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new ValidationError('RELEASE_INVALID', `Release ${JSON.stringify(label)} is invalid: give a release such as "v3"; list them with GET /v1/apps/${app.name}/releases.`);
  }
  const [target] = await deps.db.select().from(releases).where(and(eq(releases.appId, app.id), eq(releases.version, version)));
  if (!target) {
    throw new NotFoundError('RELEASE_NOT_FOUND', `App ${app.name} has no release v${version}; list them with GET /v1/apps/${app.name}/releases.`, {
      details: { release: `v${version}` },
    });
  }
  if (target.status !== 'active' && target.status !== 'superseded') {
    throw new ConflictError(
      'ROLLBACK_TARGET_INVALID',
      `Release v${version} of ${app.name} is ${target.status} and never served traffic: roll back to a release that was active.`,
      { details: { release: `v${version}`, status: target.status } },
    );
  }
  return target;
}

function toHealthSetting(body: z.infer<typeof healthBody>): AppHealthCheck {
  if (body.type === 'tcp' && body.path !== undefined) {
    throw new ValidationError('HEALTH_CHECK_INVALID', 'A tcp health check has no path: leave out "path", or use "type": "http".');
  }
  const path = body.type === 'http' ? (body.path ?? '/') : undefined;
  if (path !== undefined && (!path.startsWith('/') || /[\s\0]/.test(path))) {
    throw new ValidationError('HEALTH_CHECK_INVALID', `Health check path ${JSON.stringify(path)} is invalid: give a path that starts with "/", such as /healthz.`);
  }
  return {
    type: body.type,
    ...(path === undefined ? {} : { path }),
    intervalS: body.interval_s,
    timeoutS: body.timeout_s,
    retries: body.retries,
    startPeriodS: body.start_period_s,
  };
}

/** Describes the app's own health check setting and the check its containers run: that setting, the image's HEALTHCHECK or a port check. */
async function describeHealth(deps: ApiDeps, app: AppRow) {
  const [current] = app.currentReleaseId ? await deps.db.select().from(releases).where(eq(releases.id, app.currentReleaseId)) : [];
  const image = current ? await deps.images.getImage(current.imageDigest as Digest).catch(() => null) : null;
  const effective = resolveHealthCheck(app.healthCheck, image?.config.config?.Healthcheck);
  return {
    health: app.healthCheck ? fromHealthSetting(app.healthCheck) : null,
    effective: describeEffective(effective),
  };
}

function fromHealthSetting(check: AppHealthCheck) {
  return {
    type: check.type,
    ...(check.path === undefined ? {} : { path: check.path }),
    interval_s: check.intervalS,
    timeout_s: check.timeoutS,
    retries: check.retries,
    start_period_s: check.startPeriodS ?? 0,
  };
}

function describeEffective(check: HealthCheck) {
  const probe = check.probe.kind === 'http' ? { type: 'http', path: check.probe.path } : check.probe.kind === 'exec' ? { type: 'exec', command: check.probe.command } : { type: 'tcp' };
  return {
    source: check.source,
    ...probe,
    interval_s: check.intervalMs / 1000,
    timeout_s: check.timeoutMs / 1000,
    retries: check.retries,
    start_period_s: check.startPeriodMs / 1000,
  };
}
