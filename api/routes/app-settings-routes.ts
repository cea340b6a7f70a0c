import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import { and, eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { findAppByName, type AppRow } from '../../shared/apps/app-records.ts';
import { apps, machines, volumes } from '../../shared/db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../shared/errors.ts';
import { volumeFolder } from '../../runner/volumes/volume-folders.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { parseJsonBody } from '../request-body.ts';

/** POSIX shell variable names, which is what a process's environment can carry reliably. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_VALUE_BYTES = 32 * 1024;
const MAX_ENV_VARIABLES = 500;

/**
 * The whole environment as a map of names to values, or that map wrapped as `{"env": …}`,
 * which is the shape GET returns. A wrapped object cannot be confused with a variable
 * named `env`, because a variable's value is a string.
 */
const envBody = z.union([z.object({ env: z.record(z.string(), z.string()) }).strict(), z.record(z.string(), z.string())]).transform((body) =>
  'env' in body && typeof body.env === 'object' ? (body.env as Record<string, string>) : (body as Record<string, string>),
);
/** A JSON merge patch (RFC 7396) of the environment: a string sets a variable, null removes it. */
const envPatchBody = z.record(z.string(), z.string().nullable());
const volumeBody = z.object({ name: z.string(), path: z.string() }).strict();
const VOLUME_NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/;

/** Container paths a volume may not cover: the runtime mounts its own file systems there. */
const RESERVED_VOLUME_PATHS = ['/', '/proc', '/sys', '/dev', '/etc/resolv.conf', '/etc/hosts', '/etc/hostname'];

export function appSettingsRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const { db } = deps;
  const routes = new Hono<ApiEnv>();

  routes.get('/:app/env', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    return c.json({ env: app.env });
  });

  // Replaces the whole environment; it applies from the next release on, like a config
  // change on Heroku that waits for the next deploy.
  routes.put('/:app/env', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const env = validateEnv(await parseJsonBody(c, envBody));
    await db.update(apps).set({ env, updatedAt: new Date() }).where(eq(apps.id, app.id));
    deps.log.info({ app: app.name, appId: app.id, names: Object.keys(env) }, 'app env set');
    return c.json({ env });
  });

  // Sets and removes single variables in one step, for `slipway env set` and `env unset`.
  // The row is locked while it changes, so two patches at once both apply.
  routes.patch('/:app/env', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const patch = await parseJsonBody(c, envPatchBody);
    const setValues = Object.fromEntries(Object.entries(patch).filter((entry): entry is [string, string] => entry[1] !== null));
    validateEnv(setValues);

    const env = await db.transaction(async (tx) => {
      const [row] = await tx.select({ env: apps.env }).from(apps).where(eq(apps.id, app.id)).for('update');
      const next = { ...(row?.env ?? {}), ...setValues };
      for (const [name, value] of Object.entries(patch)) if (value === null) delete next[name];
      await tx.update(apps).set({ env: validateEnv(next), updatedAt: new Date() }).where(eq(apps.id, app.id));
      return next;
    });
    const removed = Object.keys(patch).filter((name) => patch[name] === null);
    deps.log.info({ app: app.name, appId: app.id, set: Object.keys(setValues), removed }, 'app env changed');
    return c.json({ env });
  });

  routes.get('/:app/volumes', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const rows = await db.select().from(volumes).where(eq(volumes.appId, app.id)).orderBy(volumes.name);
    return c.json({ volumes: rows.map(({ name, path: mountPath, createdAt }) => ({ name, path: mountPath, createdAt })) });
  });

  routes.post('/:app/volumes', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const body = await parseJsonBody(c, volumeBody);
    const name = validateVolumeName(body.name);
    const mountPath = validateVolumePath(body.path);

    const existing = await db.select().from(volumes).where(eq(volumes.appId, app.id));
    const clash = existing.find((volume) => volume.name === name || volume.path === mountPath);
    if (clash) {
      throw new ConflictError(
        'VOLUME_EXISTS',
        clash.name === name
          ? `App ${app.name} has a volume named ${name} already: choose another name.`
          : `Volume ${clash.name} of app ${app.name} is mounted at ${mountPath} already: choose another path.`,
        { details: { name, path: mountPath } },
      );
    }

    await db.insert(volumes).values({ appId: app.id, name, path: mountPath });
    deps.log.info({ app: app.name, appId: app.id, volume: name, path: mountPath }, 'volume declared');
    return c.json({ name, path: mountPath }, 201);
  });

  // Deletes a volume and its data. Like `docker volume rm`, it refuses a volume that a
  // running container has mounted, unless ?force=true.
  routes.delete('/:app/volumes/:name', async (c) => {
    const app = await findAppByName(db, c.req.param('app'));
    const name = c.req.param('name');
    const force = c.req.query('force') === 'true';
    await deleteVolume(deps, app, name, force);
    return c.body(null, 204);
  });

  return routes;
}

async function deleteVolume(deps: ApiDeps, app: AppRow, name: string, force: boolean): Promise<void> {
  const [volume] = await deps.db.select().from(volumes).where(and(eq(volumes.appId, app.id), eq(volumes.name, name)));
  if (!volume) {
    throw new NotFoundError('VOLUME_NOT_FOUND', `App ${app.name} has no volume named ${JSON.stringify(name)}; list its volumes with "slipway volumes list --app ${app.name}".`, {
      details: { name },
    });
  }
  const running = await deps.db
    .select({ id: machines.id })
    .from(machines)
    .where(and(eq(machines.appId, app.id), inArray(machines.status, ['starting', 'running'])));
  if (running.length > 0 && !force) {
    throw new ConflictError(
      'VOLUME_IN_USE',
      // Machines do not record which volumes they mounted, so any running container of the app counts.
      `App ${app.name} has ${running.length} running container${running.length === 1 ? '' : 's'}, which may have volume ${name} mounted: ` +
        'delete it with ?force=true (slipway volumes delete --force), and those containers lose its files.',
      { details: { name, containers: running.map((machine) => machine.id) } },
    );
  }

  await deps.db.delete(volumes).where(eq(volumes.id, volume.id));
  // The folder lives on the runner that used the volume. With the runner role in this
  // process (the one-host setup) that is this host, unless the row names another runner.
  const runnerId = volume.runnerId ?? deps.config.runnerId;
  if (deps.config.roles.has('runner') && runnerId === deps.config.runnerId) {
    await rm(volumeFolder(deps.config.dataDir, app.id, name), { recursive: true, force: true });
  } else {
    // TODO: ask the volume's runner to remove the folder. Until then its data stays on that
    // host, so a new volume with the same name there starts with the old files.
    deps.log.warn({ app: app.name, appId: app.id, volume: name, runnerId: volume.runnerId }, 'volume folder left on a runner');
  }
  deps.log.info({ app: app.name, appId: app.id, volume: name, force }, 'volume deleted');
}

function validateEnv(env: Record<string, string>): Record<string, string> {
  const names = Object.keys(env);
  if (names.length > MAX_ENV_VARIABLES) {
    throw new ValidationError('ENV_TOO_LARGE', `The environment has ${names.length} variables; the limit is ${MAX_ENV_VARIABLES}.`);
  }
  for (const name of names) {
    if (!ENV_NAME.test(name)) {
      throw new ValidationError(
        'ENV_NAME_INVALID',
        `Environment variable name ${JSON.stringify(name)} is invalid: use letters, digits and "_", not starting with a digit.`,
        { details: { name } },
      );
    }
    if (Buffer.byteLength(env[name]!) > MAX_ENV_VALUE_BYTES || env[name]!.includes('\0')) {
      throw new ValidationError(
        'ENV_VALUE_INVALID',
        `The value of ${name} is invalid: it must be at most ${MAX_ENV_VALUE_BYTES} bytes and contain no NUL byte.`,
        { details: { name } },
      );
    }
  }
  return env;
}

function validateVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw new ValidationError(
      'VOLUME_NAME_INVALID',
      `Volume name ${JSON.stringify(name)} is invalid: use 1-63 lowercase letters, digits, "_" and "-", starting and ending with a letter or digit.`,
      { details: { name } },
    );
  }
  return name;
}

function validateVolumePath(input: string): string {
  const normalized = path.posix.normalize(input);
  if (!path.posix.isAbsolute(input) || input.includes('\0')) {
    throw new ValidationError('VOLUME_PATH_INVALID', `Volume path ${JSON.stringify(input)} is invalid: give an absolute path such as /data.`, {
      details: { path: input },
    });
  }
  const cleaned = normalized.length > 1 ? normalized.replace(/\/$/, '') : normalized;
  const reserved = RESERVED_VOLUME_PATHS.find((prefix) => cleaned === prefix || (prefix !== '/' && cleaned.startsWith(`${prefix}/`)));
  if (reserved) {
    throw new ValidationError(
      'VOLUME_PATH_RESERVED',
      `Volume path ${JSON.stringify(input)} is reserved by the container runtime (${reserved}): choose another path such as /data.`,
      { details: { path: input } },
    );
  }
  return cleaned;
}
