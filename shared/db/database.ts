import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { PROJECT_ROOT } from '../config.ts';
import { SystemError } from '../errors.ts';
import * as schema from './schema.ts';

/** The drizzle database, whichever driver is behind it (postgres.js or PGlite). */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface DatabaseHandle {
  db: Database;
  /** `postgres` for a server reached through DATABASE_URL, `pglite` for the embedded one. */
  driver: 'postgres' | 'pglite';
  close(): Promise<void>;
}

export const MIGRATIONS_FOLDER = path.join(PROJECT_ROOT, 'migrations');

/**
 * Opens the database and applies pending migrations. Without a URL it opens PGlite in
 * `<dataDir>/pglite`, which only one process may hold open at a time, so every role of
 * a one-host install shares this handle inside one process.
 */
export async function openDatabase(options: { databaseUrl?: string; dataDir: string }): Promise<DatabaseHandle> {
  const handle = options.databaseUrl
    ? await openPostgres(options.databaseUrl)
    : await openPglite(path.join(options.dataDir, 'pglite'));

  try {
    await handle.migrate();
  } catch (error) {
    await handle.close();
    throw new SystemError('DATABASE_MIGRATION_FAILED', `Applying migrations from ${MIGRATIONS_FOLDER} failed: ${String(error)}`, {
      cause: error,
    });
  }
  return { db: handle.db, driver: handle.driver, close: handle.close };
}

async function openPostgres(url: string) {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { migrate } = await import('drizzle-orm/postgres-js/migrator');

  const client = postgres(url, { max: 10, onnotice: () => {} });
  const db = drizzle(client, { schema });
  return {
    db: db as unknown as Database,
    driver: 'postgres' as const,
    migrate: () => migrate(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(folder: string) {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');

  await mkdir(folder, { recursive: true });
  const client = await PGlite.create(folder);
  const db = drizzle(client, { schema });
  return {
    db: db as unknown as Database,
    driver: 'pglite' as const,
    migrate: () => migrate(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => client.close(),
  };
}

/** Runs a trivial query; used by the health check. */
export async function pingDatabase(db: Database): Promise<void> {
  await db.execute(sql`select 1`);
}
