import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageConfig, ImageManifest } from '../../shared/oci/image-types.ts';
import { ociValidators, schemaErrors } from '../integration/registry/support/oci-schemas.ts';
import { skopeo, umociTree } from '../integration/registry/support/outside-tools.ts';
import type { TreeEntry } from '../integration/images/support/tree-snapshot.ts';
import { freePort } from '../support/free-port.ts';
import { startSlipwayServer, type SlipwayServer } from '../support/slipway-server.ts';
import { importAppImage } from './support/app-images.ts';

const BASE_IMAGE = 'dockerfile-e2e/busybox:1';
const SECRET = 'e2e-secret-3f9c2a71d4';
const DOWNLOAD = 'fetched by ADD over http\n';

let server: SlipwayServer;
let scratch: string;
let registry: string;
let files: http.Server;
let filesUrl: string;
let gitDaemon: ChildProcess;
let gitUrl: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-e2e-dockerfile-'));
  ({ files, filesUrl } = await startFileServer());
  ({ gitDaemon, gitUrl } = await startGitDaemon(scratch));
  // Both listen on loopback, which ADD may reach only when the server allows it.
  server = await startSlipwayServer('dockerfile', { SLIPWAY_BUILD_FETCH_ALLOW: `${new URL(filesUrl).host},${new URL(gitUrl).host}` });
  registry = `127.0.0.1:${server.apiPort}`;
  await importAppImage(server, BASE_IMAGE, { config: { Cmd: ['sh'] } });
  expect((await server.cli(['apps', 'create', 'surface'])).code).toBe(0);
});

afterAll(async () => {
  gitDaemon?.kill();
  files?.close();
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Returns a multi-stage Dockerfile that uses every flag of the builder's Dockerfile surface. */
function dockerfile(): string {
  return [
    '# syntax=docker/dockerfile:1.7',
    '# check=skip=JSONArgsRecommended',
    `ARG BASE=${BASE_IMAGE}`,
    'FROM --platform=$BUILDPLATFORM ${BASE} AS tools',
    'ARG TARGETARCH',
    'RUN --mount=type=cache,id=downloads,target=/var/cache/tools,sharing=locked <<EOF',
    'echo "arch=$TARGETARCH" >> /var/cache/tools/runs',
    'mkdir -p /out && cp /var/cache/tools/runs /out/tool-runs && echo tool > /out/tool',
    'EOF',
    '',
    'FROM ${BASE} AS docs',
    'ARG GIT_URL',
    `ADD --checksum=sha256:${createHash('sha256').update(DOWNLOAD).digest('hex')} ${filesUrl}/notes.txt /docs/notes.txt`,
    'ADD --keep-git-dir=false ${GIT_URL}#v1:site /docs/site',
    '',
    'FROM ${BASE}',
    'ARG GREETING=hi',
    'SHELL ["/bin/sh", "-c"]',
    'LABEL org.example.greeting=$GREETING',
    'COPY --from=tools --chown=1000:1000 /out/tool /usr/local/bin/',
    'COPY --from=docs /docs /www/docs',
    'COPY --parents --exclude=**/*.tmp ./src/./app/** /www/',
    'COPY --link --chmod=u=rwX,go=rX static/ /www/static/',
    'COPY <<-EOT /www/index.html',
    '\t<p>$GREETING from a here-document</p>',
    '\tEOT',
    'RUN --mount=type=secret,id=api_token,env=API_TOKEN --mount=type=bind,source=VERSION,target=/mnt/VERSION \\',
    '    test -n "$API_TOKEN" && echo "token length ${#API_TOKEN}" > /www/token.txt && cp /mnt/VERSION /www/version.txt && echo "printed $API_TOKEN"',
    'RUN --network=none --mount=type=tmpfs,target=/scratch echo offline > /scratch/x && cat /scratch/x > /www/offline.txt',
    'RUN --mount=type=bind,target=/ctx ls /ctx > /www/context.txt',
    'USER app',
    'EXPOSE 8080/tcp 9999/udp',
    'STOPSIGNAL SIGTERM',
    'HEALTHCHECK --interval=5s --timeout=3s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1',
    'ONBUILD RUN echo built from surface',
    'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
    '',
  ].join('\n');
}

/** Writes the context, packs it with tar and deploys it through the API with a secret and a build arg. */
async function deploy(query = ''): Promise<{ deployId: string; buildId: string }> {
  const context = path.join(scratch, 'context');
  await rm(context, { recursive: true, force: true });
  for (const [file, content] of Object.entries({
    'build/app.Dockerfile': dockerfile(),
    'build/app.Dockerfile.dockerignore': 'ignored.txt\n.dockerignore\n',
    '.dockerignore': 'VERSION\n',
    'ignored.txt': 'must not reach the build\n',
    VERSION: '1.2.3\n',
    'src/app/main.js': 'main\n',
    'src/app/lib/util.js': 'util\n',
    'src/app/lib/scratch.tmp': 'temporary\n',
    'static/style.css': 'body {}\n',
  })) {
    await mkdir(path.dirname(path.join(context, file)), { recursive: true });
    await writeFile(path.join(context, file), content);
  }
  const archive = path.join(scratch, 'context.tar.gz');
  execFileSync('tar', ['-czf', archive, '-C', context, '.']);

  const params = new URLSearchParams({ dockerfile: 'build/app.Dockerfile' });
  params.append('build-arg', 'GREETING=hello-e2e');
  params.append('build-arg', `GIT_URL=${gitUrl}`);
  const response = await fetch(`http://${registry}/v1/apps/surface/deploys?${params}${query}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${server.token}`,
      'content-type': 'application/gzip',
      'slipway-build-secret': `api_token=${Buffer.from(SECRET).toString('base64')}`,
    },
    body: await readFile(archive),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  const created = (await response.json()) as { id: string; build: { id: string } };
  return { deployId: created.id, buildId: created.build.id };
}

async function waitForDeploy(id: string): Promise<{ status: string; error: unknown }> {
  for (let attempt = 0; attempt < 480; attempt += 1) {
    const result = (await (await server.api('GET', `/v1/deploys/${id}`)).json()) as { status: string; error: unknown };
    if (result.status === 'succeeded' || result.status === 'failed') return result;
    await delay(250);
  }
  throw new Error(`deploy ${id} did not finish within 120 s`);
}

/** Lists the file steps of a build log (headers such as `#5 [tools 2/2] RUN ...`) with CACHED or DONE. */
function fileStepStatuses(log: string): [string, string][] {
  const headers = new Map<string, string>();
  const statuses: [string, string][] = [];
  for (const line of log.split('\n')) {
    const header = /^#(\d+) \[(?:\S+ )?\d+\/\d+\] (.*)$/.exec(line);
    if (header && !header[2]!.startsWith('FROM')) headers.set(header[1]!, header[2]!);
    const status = /^#(\d+) (CACHED|DONE)/.exec(line);
    if (status && headers.has(status[1]!)) statuses.push([headers.get(status[1]!)!, status[2]!]);
  }
  return statuses;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function buildLog(buildId: string): Promise<string> {
  return (await server.api('GET', `/v1/builds/${buildId}/logs`)).text();
}

describe('a multi-stage Dockerfile with every flag, deployed through the API', () => {
  let first: { deployId: string; buildId: string };
  let layoutDir: string;
  let tree: TreeEntry[];
  let config: ImageConfig;

  beforeAll(async () => {
    first = await deploy();
    const outcome = await waitForDeploy(first.deployId);
    expect(outcome, `${await buildLog(first.buildId)}\n${server.output().slice(-3000)}`).toMatchObject({ status: 'succeeded' });

    layoutDir = path.join(scratch, 'pulled');
    const copied = await skopeo('copy', '--src-tls-verify=false', '--src-creds', `anyone:${server.token}`, `docker://${registry}/surface:latest`, `oci:${layoutDir}:latest`);
    expect(copied.code, copied.stderr).toBe(0);
    tree = await umociTree(scratch, layoutDir, 'latest');
    // Read the config blob itself: skopeo inspect --config drops Docker's extension fields.
    const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await readFile(path.join(layoutDir, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as ImageManifest;
    config = JSON.parse(await readFile(path.join(layoutDir, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8')) as ImageConfig;
  });

  function file(name: string): TreeEntry | undefined {
    return tree.find((entry) => entry.path === name);
  }

  it('serves the page from the here-document at the app URL', async () => {
    expect(await server.get('surface', '/')).toEqual({ status: 200, body: '<p>hello-e2e from a here-document</p>\n' });
  });

  it('holds the files of every stage and flag, read back with umoci', () => {
    const paths = tree.map((entry) => entry.path);

    expect(paths).toEqual(expect.arrayContaining([
      'usr/local/bin/tool', 'www/docs/notes.txt', 'www/docs/site/page.html', 'www/app/main.js', 'www/app/lib/util.js',
      'www/static/style.css', 'www/token.txt', 'www/version.txt', 'www/offline.txt',
    ]));
    expect(paths.filter((name) => name.endsWith('.tmp') || name.includes('.git') || name.startsWith('scratch') || name.startsWith('var/cache/tools'))).toEqual([]);
    expect(file('usr/local/bin/tool')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(file('www/docs/notes.txt')).toMatchObject({ mode: '600', content: sha256(DOWNLOAD) });
    expect(file('www/docs/site/page.html')).toMatchObject({ mode: '644', content: sha256('<p>from git</p>\n') });
    expect(file('www/static/style.css')).toMatchObject({ mode: '644' });
  });

  it('serves files that the secret, bind and offline steps wrote', async () => {
    expect(await server.get('surface', '/version.txt')).toEqual({ status: 200, body: '1.2.3\n' });
    expect(await server.get('surface', '/offline.txt')).toEqual({ status: 200, body: 'offline\n' });
    expect(await server.get('surface', '/token.txt')).toEqual({ status: 200, body: `token length ${SECRET.length}\n` });
  });

  it('applies the .dockerignore beside the named Dockerfile instead of the root one', async () => {
    expect(await server.get('surface', '/context.txt')).toEqual({ status: 200, body: 'VERSION\nbuild\nsrc\nstatic\n' });
  });

  it('writes HEALTHCHECK, ONBUILD, SHELL and the other config instructions into the config', () => {
    expect(config.config).toMatchObject({
      User: 'app',
      ExposedPorts: { '8080/tcp': {}, '9999/udp': {} },
      StopSignal: 'SIGTERM',
      Labels: { 'org.example.greeting': 'hello-e2e' },
      Shell: ['/bin/sh', '-c'],
      OnBuild: ['RUN echo built from surface'],
      Healthcheck: { Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'], Interval: 5e9, Timeout: 3e9 },
    });
  });

  it('serves a manifest and config that validate against the OCI schemas', async () => {
    const validators = ociValidators();
    const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await readFile(path.join(layoutDir, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as ImageManifest;

    expect(schemaErrors(validators.manifest, manifest)).toEqual([]);
    expect(schemaErrors(validators.config, config)).toEqual([]);
  });

  it('keeps the secret out of blobs and log', async () => {
    const blobDir = path.join(layoutDir, 'blobs/sha256');
    for (const name of await readdir(blobDir)) {
      const data = await readFile(path.join(blobDir, name));
      const text = (data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data).toString('latin1');
      expect(text.includes(SECRET), `blob ${name}`).toBe(false);
    }
    const log = await buildLog(first.buildId);
    expect(log).toContain('printed ****');
    expect(log).not.toContain(SECRET);
    expect(tree.find((entry) => entry.path === 'www/token.txt')).toBeDefined();
  });

  it('rebuilds an unchanged context from the cache, to the same image', async () => {
    const second = await deploy();
    expect(await waitForDeploy(second.deployId)).toMatchObject({ status: 'succeeded' });
    const builds = await Promise.all([first, second].map(async ({ buildId }) => (await (await server.api('GET', `/v1/builds/${buildId}`)).json()) as { imageDigest: string }));

    const statuses = fileStepStatuses(await buildLog(second.buildId));
    expect(statuses.length).toBeGreaterThanOrEqual(10);
    expect(statuses.filter(([, status]) => status !== 'CACHED')).toEqual([]);
    expect(builds[1]!.imageDigest).toBe(builds[0]!.imageDigest);
  });

  it('runs every step again with no-cache=true', async () => {
    const third = await deploy('&no-cache=true');
    expect(await waitForDeploy(third.deployId)).toMatchObject({ status: 'succeeded' });

    const log = await buildLog(third.buildId);
    expect(fileStepStatuses(log).filter(([, status]) => status !== 'DONE')).toEqual([]);
    expect(log).toContain('printed ****');
  });
});

/** Serves /notes.txt on 127.0.0.1. */
async function startFileServer(): Promise<{ files: http.Server; filesUrl: string }> {
  const server = http.createServer((request, response) => {
    if (request.url === '/notes.txt') response.end(DOWNLOAD);
    else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { files: server, filesUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Serves a repository with a tag v1 holding site/page.html through git daemon on loopback. */
async function startGitDaemon(dir: string): Promise<{ gitDaemon: ChildProcess; gitUrl: string }> {
  const work = path.join(dir, 'git-work');
  const served = path.join(dir, 'git-served');
  await mkdir(path.join(work, 'site'), { recursive: true });
  await mkdir(served);
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd });
  git(work, 'init', '--quiet');
  await writeFile(path.join(work, 'site/page.html'), '<p>from git</p>\n');
  git(work, 'add', '.');
  git(work, 'commit', '--quiet', '-m', 'site');
  git(work, 'tag', 'v1');
  git(served, 'clone', '--quiet', '--bare', work, 'site.git');

  const port = await freePort();
  const daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${served}`, '--listen=127.0.0.1', `--port=${port}`, served], { stdio: 'ignore' });
  const url = `git://127.0.0.1:${port}/site.git`;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    try {
      execFileSync('git', ['ls-remote', url], { stdio: 'ignore' });
      break;
    } catch {
      await delay(100);
    }
  }
  return { gitDaemon: daemon, gitUrl: url };
}
