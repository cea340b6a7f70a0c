import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { freePort } from '../support/free-port.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';

const PASSWORD = "s3cret-with-'quote";

/**
 * The classic pair: PostgreSQL from Debian's packages in an image built here, with its data
 * folder on a volume and its port published, and a web app that reads from it by name.
 * Needs the Debian mirror (debootstrap and apt-get), like the other Debian examples.
 */
describe.skipIf(process.env.SLIPWAY_SKIP_DEBOOTSTRAP === '1')('PostgreSQL on a volume', () => {
  let server: SlipwayServer;
  let hostPort: number;

  const connect = () => postgres({ host: '127.0.0.1', port: hostPort, user: 'postgres', password: PASSWORD, database: 'postgres', max: 1, connect_timeout: 10, onnotice: () => {} });

  async function machineIds(app: string): Promise<string[]> {
    const status = await (await server.api('GET', `/v1/apps/${app}`)).json();
    return (status.machines as { id: string; status: string }[]).filter((machine) => machine.status === 'running').map((machine) => machine.id);
  }

  async function setUp(method: string, url: string, body: unknown, status = 200): Promise<void> {
    const response = await server.api(method, url, body);
    expect(response.status, await response.clone().text()).toBe(status);
  }

  beforeAll(async () => {
    server = await startSlipwayServer('postgres');
    hostPort = await freePort();
    const baseImages = await server.cli(['base-images']);
    expect(baseImages.code, baseImages.stderr).toBe(0);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('deploys PostgreSQL with its data folder on a volume and its port published', async () => {
    expect((await server.cli(['apps', 'create', 'db'])).code).toBe(0);
    await setUp('PUT', '/v1/apps/db/env', { POSTGRES_PASSWORD: PASSWORD });
    await setUp('POST', '/v1/apps/db/volumes', { name: 'pgdata', path: '/var/lib/postgresql/data' }, 201);
    await setUp('PUT', '/v1/apps/db/scale', { min: 1 });
    await setUp('PUT', '/v1/apps/db/ports', [{ host: hostPort, container: 5432 }]);

    const result = await server.cli(['deploy', 'examples/postgres', '--app', 'db']);

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('stores two users through the published port', async () => {
    const sql = connect();
    try {
      await sql`create table users (id integer primary key, name text not null)`;
      await sql`insert into users values (1, 'ada'), (2, 'grace')`;

      expect(await sql`select name from users order by id`).toEqual([{ name: 'ada' }, { name: 'grace' }]);
    } finally {
      await sql.end();
    }
  });

  it('keeps both rows when a redeploy replaces the container', async () => {
    const [before] = await machineIds('db');

    const result = await server.cli(['deploy', 'examples/postgres', '--app', 'db']);

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const after = await machineIds('db');
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
    const sql = connect();
    try {
      expect(await sql`select id, name from users order by id`).toEqual([
        { id: 1, name: 'ada' },
        { id: 2, name: 'grace' },
      ]);
    } finally {
      await sql.end();
    }
  });

  it('serves the rows from a web app that reaches the database as db.internal', async () => {
    expect((await server.cli(['apps', 'create', 'web'])).code).toBe(0);
    await setUp('PUT', '/v1/apps/web/env', { DATABASE_PASSWORD: PASSWORD });

    const result = await server.cli(['deploy', 'examples/web-postgres', '--app', 'web']);

    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const response = await server.get('web', '/');
    expect(response.status, response.body).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ users: [{ id: 1, name: 'ada' }, { id: 2, name: 'grace' }] });
  });

  it('refuses to start without a password', async () => {
    expect((await server.cli(['apps', 'create', 'nopass'])).code).toBe(0);

    const result = await server.cli(['deploy', 'examples/postgres', '--app', 'nopass']);

    expect(result.code).toBe(1);
    expect(`${result.stdout}\n${result.stderr}`).toContain('POSTGRES_PASSWORD is not set');
  });
});
