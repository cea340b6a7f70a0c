import type { TestProject } from 'vitest/node';
import { freePort } from './free-port.ts';
import { startPostgresServer, type PostgresServer } from './postgres-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

let postgresServer: PostgresServer | undefined;

/** Starts one PostgreSQL server for the integration run; each test file makes its own database. */
export async function setup(project: TestProject): Promise<void> {
  postgresServer = await startPostgresServer(await freePort());
  project.provide('postgresUrl', postgresServer.url);
}

export async function teardown(): Promise<void> {
  await postgresServer?.stop();
}
