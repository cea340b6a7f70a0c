import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackLayer } from '../../../shared/layers/layer-unpacker.ts';
import { writeLayer, type WrittenLayer } from '../../../shared/layers/layer-writer.ts';
import { LONG_NAME, makeLayerTestRoot, makeOverlayChange, PING_CAPABILITY, UNICODE_NAME } from './support/layer-test-root.ts';
import { writeOciLayout } from './support/oci-layout.ts';
import { makeTempFolder } from './support/temp-folder.ts';
import { snapshotTree, type TreeEntry } from './support/tree-snapshot.ts';

const SOURCE_DATE_EPOCH = 1_700_000_000;

describe('layer writer and unpacker', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let rootDir: string;
  let upperDir: string;
  let rootLayer: WrittenLayer & { file: string };
  let rootTree: TreeEntry[];

  beforeAll(async () => {
    temp = await makeTempFolder('layers');
    rootDir = path.join(temp.path, 'root');
    upperDir = path.join(temp.path, 'upper');
    await makeLayerTestRoot(rootDir);
    await makeOverlayChange(upperDir);
    rootTree = await snapshotTree(rootDir);
    const file = path.join(temp.path, 'root.tar.gz');
    rootLayer = { ...(await writeLayer(rootDir, file)), file };
  });

  afterAll(async () => {
    await temp?.remove();
  });

  it('unpacks a root filesystem to the same tree', async () => {
    const target = path.join(temp.path, 'unpacked-root');
    const result = await unpackLayer(createReadStream(rootLayer.file), target, { expectedDiffId: rootLayer.diffId });

    expect(result.diffId).toBe(rootLayer.diffId);
    expect(await snapshotTree(target)).toEqual(rootTree);
  });

  it('keeps modes, owners, links, devices and capabilities', async () => {
    const target = path.join(temp.path, 'unpacked-details');
    await unpackLayer(createReadStream(rootLayer.file), target);
    const tree = new Map((await snapshotTree(target)).map((entry) => [entry.path, entry]));

    expect(tree.get('bin/setuid-tool')?.mode).toBe('4755');
    expect(tree.get('tmp')?.mode).toBe('1777');
    expect(tree.get('var/mail')).toMatchObject({ mode: '2775', gid: 8 });
    expect(tree.get('home/app/data/notes.txt')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(tree.get('bin/sh')).toMatchObject({ type: 'symlink', linkTarget: '/bin/busybox' });
    expect(tree.get('bin/relative-link')).toMatchObject({ type: 'symlink', linkTarget: 'busybox' });
    expect(tree.get('etc/passwd-hardlink')?.sameInodeAs).toBe('etc/passwd');
    expect(tree.get('dev/null')).toMatchObject({ type: 'char-device', device: '1:3', mode: '666' });
    expect(tree.get('dev/fifo')?.type).toBe('fifo');
    expect(tree.get(`usr/share/doc/${LONG_NAME}`)?.type).toBe('file');
    expect(tree.get(`usr/share/doc/${UNICODE_NAME}`)?.type).toBe('file');
    expect(tree.get('bin/capability-tool')?.xattrs?.['security.capability']).toBe(`0s${PING_CAPABILITY.toString('base64')}`);
    expect(tree.get('etc/hostname')?.mtime).toBe(Date.parse('2020-01-02T03:04:05Z') / 1000);
  });

  it('writes the same digest twice for one folder', async () => {
    const first = await writeLayer(rootDir, path.join(temp.path, 'again-1.tar.gz'), { sourceDateEpoch: SOURCE_DATE_EPOCH });
    const second = await writeLayer(rootDir, path.join(temp.path, 'again-2.tar.gz'), { sourceDateEpoch: SOURCE_DATE_EPOCH });

    expect(second).toEqual(first);
  });

  it('writes the same layer again from an unpacked copy', async () => {
    const original = await writeLayer(rootDir, path.join(temp.path, 'copy-1.tar.gz'), { sourceDateEpoch: SOURCE_DATE_EPOCH });
    const target = path.join(temp.path, 'unpacked-copy');
    await unpackLayer(createReadStream(path.join(temp.path, 'copy-1.tar.gz')), target);
    const rewritten = await writeLayer(target, path.join(temp.path, 'copy-2.tar.gz'), { sourceDateEpoch: SOURCE_DATE_EPOCH });

    expect(rewritten.digest).toBe(original.digest);
  });

  it('clamps mtimes to the source date epoch', async () => {
    const file = path.join(temp.path, 'clamped.tar.gz');
    await writeLayer(rootDir, file, { sourceDateEpoch: 1_000_000_000 });
    const target = path.join(temp.path, 'unpacked-clamped');
    await unpackLayer(createReadStream(file), target);
    const mtimes = (await snapshotTree(target)).flatMap((entry) => (entry.mtime === undefined ? [] : [entry.mtime]));

    expect(Math.max(...mtimes)).toBe(1_000_000_000);
  });

  it('writes numeric owners without user names', async () => {
    const listing = execFileSync('tar', ['--list', '--verbose', '--file', rootLayer.file], { encoding: 'utf8' });
    const owners = listing.split('\n').filter(Boolean).map((line) => line.split(/\s+/)[1]);

    expect(owners.every((owner) => /^\d+\/\d+$/.test(owner ?? ''))).toBe(true);
  });

  it('writes overlay whiteouts and opaque directories as OCI whiteout files', async () => {
    const file = path.join(temp.path, 'upper.tar.gz');
    await writeLayer(upperDir, file);
    const names = execFileSync('tar', ['--list', '--file', file], { encoding: 'utf8' }).split('\n').filter(Boolean);

    expect(names).toContain('etc/.wh.hostname');
    expect(names).toContain('usr/share/doc/.wh..wh..opq');
    expect(names).not.toContain('etc/hostname');
  });

  it('unpacks whiteouts and opaque directories in overlay form', async () => {
    const file = path.join(temp.path, 'upper-round-trip.tar.gz');
    const layer = await writeLayer(upperDir, file);
    const target = path.join(temp.path, 'unpacked-upper');
    await unpackLayer(createReadStream(file), target, { expectedDiffId: layer.diffId });
    const tree = new Map((await snapshotTree(target)).map((entry) => [entry.path, entry]));

    expect(tree.get('etc/hostname')).toMatchObject({ type: 'char-device', device: '0:0', mode: 'whiteout' });
    expect(tree.get('usr/share/doc')?.xattrs?.['trusted.overlay.opaque']).toBe('0seQ==');
    expect(tree.has('usr/share/doc/.wh..wh..opq')).toBe(false);
    expect(await snapshotTree(target)).toEqual(await snapshotTree(upperDir));
  });

  it('keeps an opaque directory hiding the lower one in a real overlayfs mount', async () => {
    const file = path.join(temp.path, 'upper-mount.tar.gz');
    await writeLayer(upperDir, file);
    const lower = path.join(temp.path, 'mount-lower');
    const upper = path.join(temp.path, 'mount-upper');
    await unpackLayer(createReadStream(rootLayer.file), lower);
    await unpackLayer(createReadStream(file), upper);
    const merged = path.join(temp.path, 'mount-merged');
    await mkdir(merged);

    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${lower}`, merged]);
    try {
      const docs = execFileSync('ls', ['-A', path.join(merged, 'usr/share/doc')], { encoding: 'utf8' }).trim();
      expect(docs).toBe('README');
      expect(execFileSync('ls', ['-A', path.join(merged, 'etc')], { encoding: 'utf8' })).not.toContain('hostname');
      expect(await readFile(path.join(merged, 'etc/passwd'), 'utf8')).toContain('app:x:1000');
    } finally {
      execFileSync('umount', [merged]);
    }
  });

  it('writes the change of a real overlayfs mount', async () => {
    const lower = path.join(temp.path, 'change-lower');
    const upper = path.join(temp.path, 'change-upper');
    const work = path.join(temp.path, 'change-work');
    const merged = path.join(temp.path, 'change-merged');
    await unpackLayer(createReadStream(rootLayer.file), lower);
    await Promise.all([upper, work, merged].map((folder) => mkdir(folder)));

    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off`, merged]);
    try {
      execFileSync('sh', ['-c', `rm ${merged}/etc/hostname && rm -r ${merged}/home/app && mkdir ${merged}/home/app && echo new > ${merged}/home/app/new.txt`]);
    } finally {
      execFileSync('umount', [merged]);
    }
    const file = path.join(temp.path, 'change.tar.gz');
    await writeLayer(upper, file);
    const names = execFileSync('tar', ['--list', '--file', file], { encoding: 'utf8' }).split('\n').filter(Boolean);

    expect(names).toContain('etc/.wh.hostname');
    expect(names).toContain('home/app/.wh..wh..opq');
    expect(names).toContain('home/app/new.txt');
  });

  it('rejects an upper directory with overlay redirects', async () => {
    const upper = path.join(temp.path, 'redirect-upper');
    await mkdir(path.join(upper, 'renamed'), { recursive: true });
    execFileSync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/original', path.join(upper, 'renamed')]);

    await expect(writeLayer(upper, path.join(temp.path, 'redirect.tar.gz'))).rejects.toMatchObject({ code: 'LAYER_OVERLAY_UNSUPPORTED' });
  });

  it('is read by umoci and skopeo as the same tree', async () => {
    const layoutDir = path.join(temp.path, 'layout');
    await writeOciLayout(layoutDir, [rootLayer], 'v1');
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layoutDir}:v1`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(inspect.Layers).toEqual([rootLayer.digest]);

    const bundle = path.join(temp.path, 'umoci-bundle');
    execFileSync('umoci', ['unpack', '--image', `${layoutDir}:v1`, bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
    expect(await snapshotTree(path.join(bundle, 'rootfs'))).toEqual(rootTree);
  });
});
