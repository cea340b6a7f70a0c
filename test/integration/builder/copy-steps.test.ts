import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_USER } from '../../support/rootfs.ts';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers, entryNames, type LayerEntry } from './support/layer-entries.ts';

/** A base image whose /app is an absolute link to /etc, to check that COPY stays inside the root. */
const LINKED_IMAGE = 'slipway-test/busybox-linked:1';

describe('builder COPY and ADD steps', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('copy-steps');
    const root = await harness.makeRoot('linked', async (dir) => {
      await symlink('/etc', path.join(dir, 'app'));
    });
    await harness.storeImage(root, LINKED_IMAGE);
  });

  afterAll(async () => {
    await harness?.stop();
  });

  /** Builds `FROM busybox` plus `lines` and returns the entries of the one layer the build added. */
  async function singleLayer(lines: string, files: Parameters<BuilderHarness['writeContext']>[0], base = BUSYBOX_IMAGE): Promise<LayerEntry[]> {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${base}\n${lines}\n`, files });
    const layers = await addedLayers(harness.blobs, image);
    expect(layers).toHaveLength(1);
    return layers[0]!;
  }

  function entry(entries: LayerEntry[], name: string): LayerEntry | undefined {
    return entries.find((candidate) => candidate.name === name);
  }

  it('copies a file with root owner, its mode and its mtime', async () => {
    const contextDir = await harness.writeContext({ 'config.ini': { content: 'a=1\n', mode: 0o640 } });
    await chown(path.join(contextDir, 'config.ini'), 4321, 4321);
    await utimes(path.join(contextDir, 'config.ini'), new Date('2021-05-06T07:08:09Z'), new Date('2021-05-06T07:08:09Z'));

    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY config.ini /app/\n`, contextDir });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['app', 'app/config.ini']);
    expect(entry(layer!, 'app/config.ini')).toMatchObject({ uid: 0, gid: 0, mode: '640', content: 'a=1\n', mtime: Date.parse('2021-05-06T07:08:09Z') / 1000 });
    expect(entry(layer!, 'app')).toMatchObject({ uid: 0, gid: 0, mode: '755' });
  });

  it('copies the contents of a folder, not the folder itself', async () => {
    const layer = await singleLayer('COPY site /srv/site/', { 'site/index.html': '<h1>hi</h1>\n', 'site/css/main.css': 'body {}\n' });

    expect(entryNames(layer)).toEqual(['srv', 'srv/site', 'srv/site/css', 'srv/site/css/main.css', 'srv/site/index.html']);
  });

  it('copies what a wildcard matches', async () => {
    const layer = await singleLayer('COPY *.txt /docs/', { 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.md': 'c\n' });

    expect(entryNames(layer)).toEqual(['docs', 'docs/a.txt', 'docs/b.txt']);
  });

  it('renames a file copied to a path without a trailing slash', async () => {
    const layer = await singleLayer('COPY a.txt /etc/renamed.conf', { 'a.txt': 'renamed\n' });

    expect(entryNames(layer)).toEqual(['etc', 'etc/renamed.conf']);
    expect(entry(layer, 'etc/renamed.conf')?.content).toBe('renamed\n');
  });

  it('copies into an existing folder named without a trailing slash', async () => {
    const layer = await singleLayer('COPY a.txt /etc', { 'a.txt': 'into etc\n' });

    expect(entryNames(layer)).toEqual(['etc', 'etc/a.txt']);
  });

  it('joins a relative destination to WORKDIR', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nWORKDIR /work\nCOPY a.txt sub/\n`, files: { 'a.txt': 'a\n' } });

    const [, copied] = await addedLayers(harness.blobs, image);
    expect(entryNames(copied!)).toEqual(['work', 'work/sub', 'work/sub/a.txt']);
  });

  it.each([
    ['several sources', 'COPY a.txt b.txt /dest'],
    ['a wildcard with several matches', 'COPY *.txt /dest'],
  ])('rejects %s with a destination that is not a folder', async (_case, line) => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\n${line}\n`, files: { 'a.txt': 'a\n', 'b.txt': 'b\n' } });

    expect(run.error?.code).toBe('COPY_DESTINATION_NOT_FOLDER');
    expect(run.error?.details).toMatchObject({ line: 2 });
    expect(run.error?.message).toContain('/dest/');
  });

  it.each([
    ['app:app', BUSYBOX_USER.uid, BUSYBOX_USER.gid],
    ['1234', 1234, 1234],
    ['1234:5678', 1234, 5678],
  ])('sets the owner given by --chown=%s', async (chownValue, uid, gid) => {
    const layer = await singleLayer(`COPY --chown=${chownValue} data /data/`, { 'data/a.txt': 'a\n' });

    expect(entry(layer, 'data/a.txt')).toMatchObject({ uid, gid });
    expect(entry(layer, 'data')).toMatchObject({ uid, gid });
  });

  it('sets the mode given by --chmod', async () => {
    const layer = await singleLayer('COPY --chmod=0751 run.sh /usr/local/bin/', { 'run.sh': { content: '#!/bin/sh\n', mode: 0o644 } });

    expect(entry(layer, 'usr/local/bin/run.sh')).toMatchObject({ mode: '751' });
    expect(entry(layer, 'usr/local/bin')).toMatchObject({ mode: '755', uid: 0 });
  });

  it('copies from an earlier stage and keeps the owner there', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS builder`,
      'RUN mkdir /out && echo built > /out/built.txt && chown 1000:1000 /out/built.txt && chmod 600 /out/built.txt',
      `FROM ${BUSYBOX_IMAGE}`,
      'COPY --from=builder /out/built.txt /app/',
      '',
    ].join('\n');

    const { image } = await harness.buildOk({ dockerfile });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['app', 'app/built.txt']);
    expect(entry(layer!, 'app/built.txt')).toMatchObject({ uid: 1000, gid: 1000, mode: '600', content: 'built\n' });
  });

  it('copies from an image and follows its links inside the image', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nCOPY --from=${LINKED_IMAGE} /app/passwd /from-image/passwd\n`;

    const { image } = await harness.buildOk({ dockerfile });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entry(layer!, 'from-image/passwd')?.content).toContain(`${BUSYBOX_USER.name}:x:${BUSYBOX_USER.uid}`);
    expect(await harness.leftovers()).toEqual({ containers: [], mounts: [], namespaces: [], cgroups: [] });
  });

  it('copies the whole context with .', async () => {
    const layer = await singleLayer('COPY . /ctx/', { 'one.txt': '1\n', 'nested/two.txt': '2\n' });

    expect(entryNames(layer)).toEqual(['ctx', 'ctx/nested', 'ctx/nested/two.txt', 'ctx/one.txt']);
  });

  it('writes through an absolute link of the image inside the root', async () => {
    const name = `copied-${randomBytes(4).toString('hex')}.conf`;

    const layer = await singleLayer(`COPY ${name} /app/`, { [name]: 'stays inside\n' }, LINKED_IMAGE);

    expect(entryNames(layer)).toEqual(['etc', `etc/${name}`]);
    expect(existsSync(path.join('/etc', name))).toBe(false);
  });

  it('fails on a missing source with its path and line', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY present.txt /\nCOPY missing.txt /\n`, files: { 'present.txt': 'x\n' } });

    expect(run.error?.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(run.error?.details).toMatchObject({ line: 3, source: 'missing.txt' });
    expect(run.error?.message).toContain('missing.txt was not found in the build context');
  });

  it('keeps a path that climbs out inside the build context', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY ../../../../etc/passwd /stolen\n` });

    expect(run.error?.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(run.error?.details).toMatchObject({ line: 2, source: '../../../../etc/passwd' });
  });

  it.each([
    ['an absolute link', 'escape', { escape: { symlink: '/etc/passwd' } }, 'escape', '/etc/passwd'],
    ['a link that climbs out', 'conf/app.conf', { 'conf/app.conf': { symlink: '../../outside.conf' } }, 'conf/app.conf', '../../outside.conf'],
    ['a folder link on the way', 'shared/file.txt', { shared: { symlink: '/srv/shared' } }, 'shared', '/srv/shared'],
  ] as const)('names %s that leads outside the build context', async (_case, source, files, link, target) => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY ${source} /stolen\n`, files });

    expect(run.error?.code).toBe('COPY_SOURCE_OUTSIDE_CONTEXT');
    expect(run.error?.details).toMatchObject({ line: 2, source, link, target });
    expect(run.error?.message).toContain(`because ${link} is a symbolic link to ${target}`);
  });

  it('copies a link inside a folder as a link', async () => {
    const layer = await singleLayer('COPY tree /tree/', { 'tree/target.txt': 't\n', 'tree/link': { symlink: 'target.txt' } });

    expect(entry(layer, 'tree/link')).toMatchObject({ type: 'symlink', linkname: 'target.txt' });
  });

  it('follows a source that is itself a link', async () => {
    const layer = await singleLayer('COPY link /copied/', { 'target.txt': 'through the link\n', link: { symlink: 'target.txt' } });

    expect(entry(layer, 'copied/link')).toMatchObject({ type: 'file', content: 'through the link\n' });
  });

  it('extracts a local tar.gz with ADD and keeps the archive owners', async () => {
    const contextDir = await harness.writeContext({});
    const staging = path.join(contextDir, '..', `staging-${randomBytes(3).toString('hex')}`);
    await mkdir(path.join(staging, 'bin'), { recursive: true });
    await writeFile(path.join(staging, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
    execFileSync('tar', ['-czf', path.join(contextDir, 'tool.tar.gz'), '--owner=4321', '--group=4321', '--numeric-owner', '-C', staging, 'bin']);

    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD tool.tar.gz /opt/tool\n`, contextDir });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['opt', 'opt/tool', 'opt/tool/bin', 'opt/tool/bin/tool']);
    expect(entry(layer!, 'opt/tool/bin/tool')).toMatchObject({ uid: 4321, gid: 4321, mode: '755' });
  });

  it('copies a plain file with ADD', async () => {
    const layer = await singleLayer('ADD notes.txt /notes.txt', { 'notes.txt': 'not an archive\n' });

    expect(entry(layer, 'notes.txt')?.content).toBe('not an archive\n');
  });
});
