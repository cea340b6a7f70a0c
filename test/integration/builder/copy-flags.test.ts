import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinRemoteArgs } from '../../../workers/build/executor/git-source.ts';
import { freePort } from '../../support/free-port.ts';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers, entryNames, type LayerEntry } from './support/layer-entries.ts';

const DOWNLOAD = 'downloaded over http\n';
const LAST_MODIFIED = new Date('2022-03-04T05:06:07Z');

describe('builder COPY and ADD flags', () => {
  let harness: BuilderHarness;
  let files: string;
  let server: http.Server;
  let baseUrl: string;
  let tarball: Buffer;
  let git: { daemon: ChildProcess; url: string; tagCommit: string; mainCommit: string };

  beforeAll(async () => {
    harness = await BuilderHarness.start('copy-flags');
    files = await mkdtemp(path.join(tmpdir(), 'slipway-copy-flags-'));
    tarball = await makeTarball(files);
    ({ server, baseUrl } = await startFileServer(tarball));
    git = await startGitDaemon(files);
    // Both servers listen on loopback, which builds may reach only when allowed.
    harness.config = { ...harness.config, buildFetchAllow: new Set([new URL(baseUrl).host, new URL(git.url).host]) };
  });

  afterAll(async () => {
    git?.daemon.kill();
    server?.close();
    await harness?.stop();
    if (files) await rm(files, { recursive: true, force: true });
  });

  /** Builds `FROM busybox` plus `lines` and returns the entries of the last layer the build added. */
  async function lastLayer(lines: string, contextFiles: Parameters<BuilderHarness['writeContext']>[0] = {}): Promise<LayerEntry[]> {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\n${lines}\n`, files: contextFiles });
    return (await addedLayers(harness.blobs, image)).at(-1)!;
  }

  function entry(entries: LayerEntry[], name: string): LayerEntry | undefined {
    return entries.find((candidate) => candidate.name === name);
  }

  describe('--exclude', () => {
    const context = { 'home/notes.txt': 'n\n', 'home/main.py': 'p\n', 'homework.txt': 'w\n', 'homework.md': 'm\n', 'other.py': 'o\n' };

    it('leaves out matches and folder entries that a pattern names', async () => {
      const layer = await lastLayer('COPY --exclude=*.txt hom* /mydir/', context);

      expect(entryNames(layer)).toEqual(['mydir', 'mydir/homework.md', 'mydir/main.py']);
    });

    it('takes several patterns and ** across folders', async () => {
      const layer = await lastLayer('COPY --exclude=**/*.txt --exclude=*.md . /all/', context);

      expect(entryNames(layer)).toEqual(['all', 'all/home', 'all/home/main.py', 'all/other.py']);
    });

    it('keeps the cache when only an excluded file changes', async () => {
      const contextDir = await harness.writeContext(context);
      const dockerfile = `FROM ${BUSYBOX_IMAGE}\nCOPY --exclude=*.md . /all/\n`;
      await harness.buildOk({ dockerfile, contextDir });
      await writeFile(path.join(contextDir, 'homework.md'), 'changed\n');

      const { output } = await harness.buildOk({ dockerfile, contextDir });

      expect(output).toMatch(/COPY --exclude=\*\.md \. \/all\/\n#\d+ CACHED/);
    });
  });

  describe('--parents', () => {
    const context = { 'x/a.txt': 'xa\n', 'y/a.txt': 'ya\n', 'x/y/b.txt': 'xyb\n', 'src/a.txt': '1\n', 'src/x/b.txt': '2\n', 'src/x/y/c.txt': '3\n', 'src/x/y/d.md': '4\n' };

    it('keeps the parent folders of each source', async () => {
      const layer = await lastLayer('COPY --parents ./x/a.txt ./y/a.txt /parents/', context);

      expect(entryNames(layer).filter((name) => name.endsWith('.txt'))).toEqual(['parents/x/a.txt', 'parents/y/a.txt']);
    });

    it('keeps only the folders after a /./ pivot', async () => {
      const layer = await lastLayer('COPY --parents ./x/./y/*.txt /parents/', context);

      expect(entryNames(layer).filter((name) => name.endsWith('.txt'))).toEqual(['parents/y/b.txt']);
    });

    it('matches any depth with **', async () => {
      const layer = await lastLayer('COPY --parents ./src/**/*.txt /parents/', context);

      expect(entryNames(layer).filter((name) => name.includes('.'))).toEqual(['parents/src/a.txt', 'parents/src/x/b.txt', 'parents/src/x/y/c.txt']);
    });
  });

  describe('--chmod', () => {
    it.each([
      ['u=rwX,go=rX', { 'bin/run': '755', 'bin/data': '644', bin: '755' }],
      ['+x', { 'bin/run': '755', 'bin/data': '715', bin: '755' }],
      ['go-rwx', { 'bin/run': '700', 'bin/data': '600', bin: '700' }],
      ['0640', { 'bin/run': '640', 'bin/data': '640', bin: '640' }],
    ])('applies %s to each file and folder', async (mode, expected) => {
      const layer = await lastLayer(`COPY --chmod=${mode} tree /`, { 'tree/bin/run': { content: '#!/bin/sh\n', mode: 0o744 }, 'tree/bin/data': { content: 'd\n', mode: 0o604 } });

      for (const [name, entryMode] of Object.entries(expected)) expect(entry(layer, name)?.mode, name).toBe(entryMode);
    });
  });

  describe('--link', () => {
    it('reuses the layer of a --link copy when a step below it changes', async () => {
      const contextDir = await harness.writeContext({ 'app/main.py': 'print(1)\n' });
      const dockerfile = (marker: string) => `FROM ${BUSYBOX_IMAGE}\nRUN echo ${marker} > /marker\nCOPY --link app /srv/app\nRUN ls /srv/app > /listing\n`;
      const first = await harness.buildOk({ dockerfile: dockerfile('one'), contextDir });

      const second = await harness.buildOk({ dockerfile: dockerfile('two'), contextDir });

      expect(second.output).toMatch(/COPY --link app \/srv\/app\n#\d+ CACHED/);
      expect(second.output).toMatch(/RUN ls \/srv\/app > \/listing\n(?:.*\n)*?#\d+ DONE/);
      expect(second.image.manifest.layers[2]!.digest).toBe(first.image.manifest.layers[2]!.digest);
      expect(second.image.manifest.layers[1]!.digest).not.toBe(first.image.manifest.layers[1]!.digest);
    });

    it('ignores image links at the destination', async () => {
      const layer = await lastLayer('RUN mkdir /real && ln -s /real /linked\nCOPY --link a.txt /linked/a.txt', { 'a.txt': 'a\n' });

      expect(entryNames(layer)).toEqual(['linked', 'linked/a.txt']);
    });

    it('rejects --chown with names', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY --link --chown=app a.txt /a.txt\n`, files: { 'a.txt': 'a\n' } });

      expect(run.error?.code).toBe('COPY_LINK_CHOWN_NAME');
      expect(run.error?.details).toMatchObject({ line: 2 });
    });
  });

  describe('ADD of a URL', () => {
    const digest = `sha256:${createHash('sha256').update(DOWNLOAD).digest('hex')}`;

    it('downloads into a folder with mode 600 and the Last-Modified time', async () => {
      const layer = await lastLayer(`ADD ${baseUrl}/files/file.txt /downloads/`);

      expect(entry(layer, 'downloads/file.txt')).toMatchObject({ content: DOWNLOAD, mode: '600', uid: 0, mtime: LAST_MODIFIED.getTime() / 1000 });
    });

    it('follows a redirect and names the file by the destination', async () => {
      const layer = await lastLayer(`ADD --chmod=644 ${baseUrl}/redirect /etc/renamed.txt`);

      expect(entry(layer, 'etc/renamed.txt')).toMatchObject({ content: DOWNLOAD, mode: '644' });
    });

    it('checks --checksum', async () => {
      const ok = await lastLayer(`ADD --checksum=${digest} ${baseUrl}/files/file.txt /checked.txt`);
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD --checksum=sha256:${'0'.repeat(64)} ${baseUrl}/files/file.txt /bad.txt\n` });

      expect(entry(ok, 'checked.txt')?.content).toBe(DOWNLOAD);
      expect(run.error?.code).toBe('ADD_CHECKSUM_MISMATCH');
      expect(run.error?.message).toContain(digest);
    });

    it('unpacks a downloaded archive only with --unpack=true', async () => {
      const packed = await lastLayer(`ADD ${baseUrl}/files/archive.tar.gz /kept/`);
      const unpacked = await lastLayer(`ADD --unpack=true ${baseUrl}/files/archive.tar.gz /unpacked/`);

      expect(entryNames(packed)).toEqual(['kept', 'kept/archive.tar.gz']);
      expect(entryNames(unpacked)).toEqual(['unpacked', 'unpacked/inside.txt']);
    });

    it('keeps the cache while the content stays the same', async () => {
      const dockerfile = `FROM ${BUSYBOX_IMAGE}\nADD ${baseUrl}/files/file.txt /cached.txt\n`;
      await harness.buildOk({ dockerfile });

      const { output } = await harness.buildOk({ dockerfile });

      expect(output).toMatch(/#\d+ CACHED/);
    });

    it('fails with the status of a missing file', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD ${baseUrl}/files/missing.txt /missing.txt\n` });

      expect(run.error?.code).toBe('ADD_DOWNLOAD_FAILED');
      expect(run.error?.message).toContain('404');
      expect(run.error?.details).toMatchObject({ line: 2 });
    });

    it('does not unpack a local archive with --unpack=false', async () => {
      const layer = await lastLayer('ADD --unpack=false archive.tar.gz /kept/', { 'archive.tar.gz': { content: tarball, mode: 0o644 } });

      expect(entryNames(layer)).toEqual(['kept', 'kept/archive.tar.gz']);
    });
  });

  describe('ADD from the build host', () => {
    it('rejects a name that resolves to loopback, naming the setting that allows it', async () => {
      const url = `http://localhost:${new URL(baseUrl).port}/files/file.txt`;
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD ${url} /x.txt\n` });

      expect(run.error?.code).toBe('ADD_SOURCE_FORBIDDEN');
      expect(run.error?.message).toContain(`SLIPWAY_BUILD_FETCH_ALLOW=localhost:${new URL(baseUrl).port}`);
      expect(run.error?.details).toMatchObject({ line: 2 });
    });

    it('rejects a redirect to the build host', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD ${baseUrl}/redirect-to-localhost /x.txt\n` });

      expect(run.error?.code).toBe('ADD_SOURCE_FORBIDDEN');
    });

    it('makes git connect to the address the guard checked', () => {
      // git daemon listens on 127.0.0.1 only: pinned there, ls-remote reaches it; pinned
      // to 127.0.0.2, the same remote is refused, so git used the pin, not the name.
      const remote = git.url.replace('127.0.0.1', 'localhost');
      const port = Number(new URL(remote).port);
      const lsRemote = (address: string) =>
        spawnSync('git', [...pinRemoteArgs(remote, address, 'git:', port), 'ls-remote', remote], { env: { PATH: process.env.PATH, GIT_CONFIG_NOSYSTEM: '1', HOME: files } });

      expect(lsRemote('127.0.0.1').status).toBe(0);
      expect(lsRemote('127.0.0.2').status).not.toBe(0);
    });

    it('rejects a git remote on the build host', async () => {
      const remote = git.url.replace('127.0.0.1', 'localhost');
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD ${remote}#v1 /repo\n` });

      expect(run.error?.code).toBe('ADD_SOURCE_FORBIDDEN');
    });
  });

  describe('ADD of a git repository', () => {
    it('adds a folder of a tag without the .git folder', async () => {
      const layer = await lastLayer(`ADD ${git.url}#v1:docs /docs`);

      expect(entryNames(layer)).toEqual(['docs', 'docs/guide.md', 'docs/run.sh']);
      expect(entry(layer, 'docs/guide.md')).toMatchObject({ content: 'version 1\n', mode: '644', uid: 0 });
      expect(entry(layer, 'docs/run.sh')).toMatchObject({ mode: '755' });
    });

    it('adds the default branch and keeps .git with --keep-git-dir', async () => {
      const layer = await lastLayer(`ADD --keep-git-dir=true ${git.url} /repo`);

      expect(entry(layer, 'repo/docs/guide.md')?.content).toBe('version 2\n');
      expect(entryNames(layer)).toContain('repo/.git');
    });

    it('checks --checksum against the commit', async () => {
      const ok = await lastLayer(`ADD --checksum=${git.tagCommit.slice(0, 10)} ${git.url}#v1 /tagged`);
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD --checksum=${git.mainCommit.slice(0, 10)} ${git.url}#v1 /tagged\n` });

      expect(entry(ok, 'tagged/docs/guide.md')?.content).toBe('version 1\n');
      expect(run.error?.code).toBe('ADD_CHECKSUM_MISMATCH');
    });

    it('fails for a ref the repository does not have', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD ${git.url}#no-such-branch /x\n` });

      expect(run.error?.code).toBe('ADD_GIT_REF_NOT_FOUND');
      expect(run.error?.details).toMatchObject({ line: 2 });
    });
  });
});

/** Makes a tar.gz with one file, inside.txt. */
async function makeTarball(dir: string): Promise<Buffer> {
  const tree = path.join(dir, 'tar-tree');
  await mkdir(tree);
  await writeFile(path.join(tree, 'inside.txt'), 'inside\n');
  execFileSync('tar', ['-czf', path.join(dir, 'archive.tar.gz'), '-C', tree, 'inside.txt']);
  return execFileSync('cat', [path.join(dir, 'archive.tar.gz')]);
}

/** Serves /files/file.txt (with Last-Modified), /files/archive.tar.gz, /redirect to the file, and /redirect-to-localhost, on 127.0.0.1. */
async function startFileServer(tarball: Buffer): Promise<{ server: http.Server; baseUrl: string }> {
  const server = http.createServer((request, response) => {
    if (request.url === '/files/file.txt') {
      response.writeHead(200, { 'last-modified': LAST_MODIFIED.toUTCString(), 'content-type': 'text/plain' });
      response.end(DOWNLOAD);
    } else if (request.url === '/files/archive.tar.gz') {
      response.writeHead(200, { 'content-type': 'application/gzip' });
      response.end(tarball);
    } else if (request.url === '/redirect') {
      response.writeHead(302, { location: '/files/file.txt' });
      response.end();
    } else if (request.url === '/redirect-to-localhost') {
      response.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/files/file.txt` });
      response.end();
    } else {
      response.writeHead(404);
      response.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Makes a repository with a tag v1 and a later commit on main, and serves it with git daemon on loopback. */
async function startGitDaemon(dir: string): Promise<{ daemon: ChildProcess; url: string; tagCommit: string; mainCommit: string }> {
  const work = path.join(dir, 'work');
  const served = path.join(dir, 'served');
  await mkdir(path.join(work, 'docs'), { recursive: true });
  const gitIn = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' }).trim();

  gitIn(work, 'init', '--quiet');
  await writeFile(path.join(work, 'docs/guide.md'), 'version 1\n');
  await writeFile(path.join(work, 'docs/run.sh'), '#!/bin/sh\n', { mode: 0o755 });
  gitIn(work, 'add', '.');
  gitIn(work, 'commit', '--quiet', '-m', 'first');
  gitIn(work, 'tag', '-a', 'v1', '-m', 'v1');
  const tagCommit = gitIn(work, 'rev-parse', 'HEAD');
  await writeFile(path.join(work, 'docs/guide.md'), 'version 2\n');
  gitIn(work, 'commit', '--quiet', '-am', 'second');
  const mainCommit = gitIn(work, 'rev-parse', 'HEAD');
  await mkdir(served);
  gitIn(served, 'clone', '--quiet', '--bare', work, 'repo.git');

  const port = await freePort();
  const daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${served}`, '--listen=127.0.0.1', `--port=${port}`, served], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 50; attempt += 1) {
    try {
      execFileSync('git', ['ls-remote', `git://127.0.0.1:${port}/repo.git`], { stdio: 'ignore' });
      break;
    } catch {
      await delay(100);
    }
  }
  return { daemon, url: `git://127.0.0.1:${port}/repo.git`, tagCommit, mainCommit };
}
