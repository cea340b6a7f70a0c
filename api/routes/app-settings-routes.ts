import path from 'node:path';
import { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { findAppByName } from '../../shared/apps/app-records.ts';
import { apps, volumes } from '../../shared/db/schema.ts';
import { ConflictError, ValidationError } from '../../shared/errors.ts';
import type { ApiDeps, ApiEnv } from '../api-deps.ts';
import { parseJsonBody } from '../request-body.ts';

/** POSIX shell variable names, which is what a process's environment can carry reliably. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_ENV_VALUE_BYTES = 32 * 1024;
const MAX_ENV_VARIABLES = 500;

const envBody = z.record(z.string(), z.string());
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

  return routes;
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
