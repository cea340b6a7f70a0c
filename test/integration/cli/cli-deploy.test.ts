import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlipwayServer, type SlipwayServer } from '../../support/slipway-server.ts';
import { BUSYBOX_IMAGE, busyboxWebDockerfile, importBusyboxImage } from './support/busybox-image.ts';
import { runSlipway, runSlipwayOnTerminal } from './support/cli-runner.ts';

let server: SlipwayServer;
let scratch: string;

beforeAll(async () => {
  server = await startSlipwayServer('cli-deploy');
  await importBusyboxImage(server);
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-cli-deploy-'));
  for (const app of ['web', 'copy']) expect((await server.api('POST', '/v1/apps', { name: app })).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function slipway(...args: string[]) {
  return runSlipway(args, { env: server.env });
}

/** Removes the colour and style escapes (SGR) from terminal output; cursor movements stay. */
function withoutStyles(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, '');
}

/** Writes a project folder: a Dockerfile and an index.html. */
async function project(name: string, dockerfile: string, index = `${name}\n`): Promise<string> {
  const dir = path.join(scratch, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  await writeFile(path.join(dir, 'index.html'), index);
  return dir;
}

describe('deploy without a terminal', () => {
  it('prints plain lines: upload, build output, summary, release and URL', async () => {
    const dir = await project('plain', busyboxWebDockerfile(['RUN echo step output']));
    const result = await slipway('deploy', dir, '--app', 'web');

    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^Uploading context \d+ B\.\.\.$/);
    expect(lines[1]).toMatch(/^Uploaded \d+ B in \d+\.\ds \(.+\/s\)$/);
    expect(result.stdout).toMatch(/^#\d+ \[3\/3\] RUN echo step output$/m);
    expect(result.stdout).toMatch(/^step output$/m);
    expect(result.stdout).toMatch(/^Build finished in \d+\.\ds: 4 steps, 0 cached$/m);
    expect(result.stdout).toContain('Starting v1 and waiting for it to accept connections...');
    expect(result.stdout).toContain(`Released v1 of web: http://web.localhost:${server.httpPort}/`);
    expect(result.stdout).not.toContain('\x1b[');
    expect(await server.get('web', '/')).toEqual({ status: 200, body: 'plain\n' });
  });

  it('prints JSON lines with --json', async () => {
    const dir = path.join(scratch, 'plain');
    const result = await slipway('deploy', dir, '--app', 'web', '--json');
    expect(result.code, result.stderr).toBe(0);

    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; status?: string; name?: string });
    expect(events.map((event) => event.type)).toEqual(expect.arrayContaining(['upload', 'deploy-created', 'step', 'log', 'build', 'deploy']));
    expect(events.filter((event) => event.type === 'step').map((event) => event.status)).toEqual(['done', 'cached', 'cached', 'done']);
    expect(events.at(-1)).toMatchObject({ type: 'deploy', status: 'succeeded', release: { version: 'v2' } });
  });

  it('runs every step again with --no-cache', async () => {
    const result = await slipway('deploy', path.join(scratch, 'plain'), '--app', 'web', '--no-cache');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('CACHED');
    expect(result.stdout).toMatch(/^step output$/m);
  });

  it('passes --build-arg values to ARG', async () => {
    const dir = await project('args', busyboxWebDockerfile(['ARG GREETING=default', 'RUN echo "$GREETING" > /www/greeting.txt']));
    const result = await slipway('deploy', dir, '--app', 'web', '--build-arg', 'GREETING=from the command line');
    expect(result.code, result.stderr).toBe(0);
    expect(await server.get('web', '/greeting.txt')).toEqual({ status: 200, body: 'from the command line\n' });
  });

  it('passes --secret values to RUN --mount=type=secret', async () => {
    const secretFile = path.join(scratch, 'token.txt');
    await writeFile(secretFile, 's3cret value');
    const dir = await project('secrets', busyboxWebDockerfile(['RUN --mount=type=secret,id=token test "$(cat /run/secrets/token)" = "s3cret value" && echo secret matched']));
    const result = await slipway('deploy', dir, '--app', 'web', '--secret', `id=token,src=${secretFile}`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^secret matched$/m);
  });

  it('returns after the upload with --detach', async () => {
    const result = await slipway('deploy', path.join(scratch, 'args'), '--app', 'web', '--detach');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Deploy [0-9a-f-]{36}: build [0-9a-f-]{36} queued$/m);
    expect(result.stdout).not.toContain('Released');
  });

  it('exits 1 for a failing build with the step, exit code and output', async () => {
    const dir = await project('failing', busyboxWebDockerfile(['RUN echo about to fail && exit 3']));
    const result = await slipway('deploy', dir, '--app', 'web');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^Build failed in \d+\.\ds: 3 steps, \d cached$/m);
    expect(result.stderr).toContain('RUN echo about to fail && exit 3 (line 3) failed with exit code 3: about to fail');
  });

  it.each([
    ['a folder that does not exist', () => ['deploy', '/nonexistent-folder', '--app', 'web'], 2, 'is not a directory'],
    ['an app that does not exist', () => ['deploy', path.join(scratch, 'args'), '--app', 'nope'], 4, 'App "nope" does not exist'],
    ['a folder without a Dockerfile', () => ['deploy', scratch, '--app', 'web'], 2, 'Dockerfile does not exist: add a Dockerfile to'],
    ['--image with build options', () => ['deploy', '--image', 'x:1', '--no-cache', '--app', 'web'], 2, '--image releases an existing image'],
  ])('exits with its code for %s', async (_case, args, code, message) => {
    const result = await slipway(...args());
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
  });
});

describe('deploy on a terminal', () => {
  it('draws a progress bar, a step timeline and a release spinner', async () => {
    const dir = await project('terminal', busyboxWebDockerfile(['RUN echo on a terminal && sleep 1']));
    const result = await runSlipwayOnTerminal(['deploy', dir, '--app', 'web'], { env: server.env });
    const screen = withoutStyles(result.stdout);

    expect(result.code, result.stdout).toBe(0);
    expect(screen).toMatch(/Uploading context \[[=> ]+\]/);
    expect(screen).toMatch(/✔ \[1\/3\] FROM slipway-test\/busybox:1 +\d+\.\ds/);
    expect(screen).toMatch(/✔ \[2\/3\] COPY index\.html \/www\/index\.html +\d+\.\ds/);
    expect(screen).toMatch(/✔ \[3\/3\] RUN echo on a terminal && sleep 1 +\d+\.\ds/);
    expect(screen).toContain('│ on a terminal');
    expect(screen).toMatch(/Starting v\d+ and waiting for it to accept connections/);
    expect(screen).toMatch(/✔ v\d+ accepts connections after \d+\.\ds/);
    expect(screen).toContain('Released v');
    expect(result.stdout).toContain('\x1b[32m✔');
  });

  it('keeps the output of a failed step under it', async () => {
    const dir = await project('terminal-failing', busyboxWebDockerfile(['RUN echo first line && echo last line && exit 5']));
    const result = await runSlipwayOnTerminal(['deploy', dir, '--app', 'web'], { env: server.env });
    const screen = withoutStyles(result.stdout);

    expect(result.code).toBe(1);
    expect(screen).toMatch(/✘ \[3\/3\] RUN echo first line && echo last line && exit 5 +\d+\.\ds\r?\n +│ first line\r?\n +│ last line/);
    expect(screen).toContain('failed with exit code 5');
  });
});

describe('deploy --image', () => {
  it("releases another app's release image without a build", async () => {
    const image = `127.0.0.1:${server.apiPort}/web:v1`;
    const result = await slipway('deploy', '--image', image, '--app', 'copy');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^Deploy [0-9a-f-]{36}: releasing ${image.replace(/\./g, '\\.')} \\(sha256:[0-9a-f]{64}\\) as v1$`, 'm'));
    expect(result.stdout).toContain(`Released v1 of copy: http://copy.localhost:${server.httpPort}/`);
    expect(await server.get('copy', '/')).toEqual({ status: 200, body: 'plain\n' });
  });

  it('exits 4 for an image the server does not have', async () => {
    const result = await slipway('deploy', '--image', `${BUSYBOX_IMAGE}-missing`, '--app', 'copy');
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('is not in this server');
  });
});
