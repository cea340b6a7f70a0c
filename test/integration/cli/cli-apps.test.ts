import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { runSlipway } from './support/cli-runner.ts';

let server: SlipwayServer;
let home: string;

beforeAll(async () => {
  server = await startSlipwayServer('cli-apps');
  home = await mkdtemp(path.join(tmpdir(), 'slipway-cli-apps-'));
});

afterAll(async () => {
  await server?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

/** Runs the CLI as in the checkout beside the server: the API port and admin token come from the server's settings and data folder. */
function slipway(...args: string[]) {
  return runSlipway(args, { env: server.env });
}

describe('apps', () => {
  it('creates an app and prints its URL', async () => {
    const result = await slipway('apps', 'create', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Created app alpha: http://alpha.localhost:${server.httpPort}/`);
  });

  it.each([
    ['an invalid name', ['apps', 'create', 'Not_Valid'], 2, 'App name "Not_Valid" is invalid'],
    ['a taken name', ['apps', 'create', 'alpha'], 1, 'App name "alpha" is taken: choose another name.'],
  ])('exits with its code for %s and says why', async (_case, args, code, message) => {
    const result = await slipway(...args);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
  });

  it('lists apps as a table, as names and as JSON', async () => {
    expect((await slipway('apps', 'create', 'beta')).code).toBe(0);

    const table = await slipway('apps', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+RELEASE\s+URL$/);
    expect(table.stdout).toMatch(/^alpha\s+new\s+-\s+http:\/\/alpha\.localhost/m);
    expect((await slipway('apps', 'list', '-q')).stdout).toBe('alpha\nbeta\n');
    const json = JSON.parse((await slipway('apps', 'list', '--json')).stdout) as { name: string }[];
    expect(json.map((app) => app.name)).toEqual(['alpha', 'beta']);
  });

  it('shows an app with its git remote and scale settings', async () => {
    const result = await slipway('apps', 'info', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^App:\s+alpha$/m);
    expect(result.stdout).toMatch(/^Release:\s+none yet$/m);
    expect(result.stdout).toMatch(new RegExp(`^Git remote:\\s+http://127\\.0\\.0\\.1:${server.apiPort}/git/alpha\\.git$`, 'm'));
    expect(result.stdout).toMatch(/^Scale:\s+min 0, max 1, concurrency 80, idle timeout 300s$/m);
  });

  it('exits 4 for an app that does not exist', async () => {
    const result = await slipway('apps', 'info', 'gamma');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('App "gamma" does not exist');
  });

  it('deletes an app without asking when not on a terminal', async () => {
    const result = await slipway('apps', 'delete', 'beta');
    expect(result.code, result.stderr).toBe(0);
    expect((await slipway('apps', 'info', 'beta')).code).toBe(4);
  });
});

describe('env', () => {
  it('sets variables, keeping the others', async () => {
    expect((await slipway('env', 'set', 'LOG_LEVEL=debug', '--app', 'alpha')).code).toBe(0);
    const result = await slipway('env', 'set', 'GREETING=hello world', 'URL=http://x/?a=b', '--app', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Set GREETING, URL on alpha.');
    expect((await slipway('env', '--app', 'alpha')).stdout).toBe('GREETING=hello world\nLOG_LEVEL=debug\nURL=http://x/?a=b\n');
  });

  it('unsets variables', async () => {
    const result = await slipway('env', 'unset', 'LOG_LEVEL', 'URL', '--app', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse((await slipway('env', 'list', '--json', '--app', 'alpha')).stdout)).toEqual({ GREETING: 'hello world' });
  });

  it('says which variables were not set instead of claiming to remove them', async () => {
    const result = await slipway('env', 'unset', 'GREETING', 'NEVER_SET', '--app', 'alpha');

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Removed GREETING from alpha.');
    expect(result.stdout).toContain('NEVER_SET was not set on alpha; nothing to remove.');
    expect(result.stdout).not.toContain('Removed GREETING, NEVER_SET');
  });

  it('exits 2 for an invalid name and names it', async () => {
    const result = await slipway('env', 'set', '1BAD=x', '--app', 'alpha');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Environment variable name "1BAD" is invalid');
  });

  it('exits 2 for an assignment without "="', async () => {
    const result = await slipway('env', 'set', 'GREETING', '--app', 'alpha');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('"GREETING" is not NAME=VALUE');
  });
});

describe('volumes', () => {
  it.each([
    ['NAME:PATH', ['data:/data'], 'data', '/data'],
    ['NAME --path PATH', ['cache', '--path', '/var/cache/app'], 'cache', '/var/cache/app'],
  ])('creates a volume given as %s', async (_form, args, name, mountPath) => {
    const result = await slipway('volumes', 'create', ...args, '--app', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Created volume ${name} of alpha at ${mountPath}`);
  });

  it('lists volumes', async () => {
    const result = await slipway('volumes', 'list', '--app', 'alpha');
    expect(result.stdout).toMatch(/^cache\s+\/var\/cache\/app\s+/m);
    expect(result.stdout).toMatch(/^data\s+\/data\s+/m);
  });

  it('deletes a volume of an app that runs no container', async () => {
    const result = await slipway('volumes', 'delete', 'cache', '--app', 'alpha');
    expect(result.code, result.stderr).toBe(0);
    expect((await slipway('volumes', 'list', '--app', 'alpha')).stdout).not.toContain('cache');
  });

  it('exits 4 for a volume that does not exist', async () => {
    const result = await slipway('volumes', 'delete', 'cache', '--app', 'alpha');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('App alpha has no volume named "cache"');
  });

  it('exits 2 for a reserved path', async () => {
    const result = await slipway('volumes', 'create', 'bad:/proc/x', '--app', 'alpha');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is reserved by the container runtime');
  });
});

describe('login', () => {
  function elsewhere(extra: Record<string, string> = {}) {
    // Another folder and no server settings: only a stored login can point the CLI at the server.
    return { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), SLIPWAY_DATA_DIR: path.join(home, 'no-data'), ...extra };
  }

  it('stores the address and token with mode 0600', async () => {
    const apiUrl = `http://127.0.0.1:${server.apiPort}`;
    const result = await runSlipway(['login', '--api-url', apiUrl, '--token-stdin'], { env: elsewhere(), input: `${server.token}\n` });
    expect(result.code, result.stderr).toBe(0);
    const file = path.join(home, '.config', 'slipway', 'config.json');
    expect(result.stdout).toContain(`Logged in to ${apiUrl}; the token is stored in ${file}.`);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ apiUrl, token: server.token });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('lets later commands use the stored login', async () => {
    const result = await runSlipway(['apps', 'list', '-q'], { env: elsewhere() });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('alpha\n');
  });

  it('exits 3 for a token the server rejects', async () => {
    const result = await runSlipway(['login', '--api-url', `http://127.0.0.1:${server.apiPort}`, '--token-stdin'], { env: elsewhere(), input: 'swt_wrong\n' });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('rejected the token');
  });

  it('forgets the login at logout', async () => {
    expect((await runSlipway(['logout'], { env: elsewhere() })).stdout).toContain('Logged out');
    const result = await runSlipway(['apps', 'list'], { env: elsewhere() });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('No API token: run "slipway login"');
  });
});
