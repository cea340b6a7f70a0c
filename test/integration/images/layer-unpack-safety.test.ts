import { access, mkdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream, { type Header } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackLayer } from '../../../shared/layers/layer-unpacker.ts';
import { sha256Digest } from '../../../shared/oci/digest.ts';
import { makeTempFolder } from './support/temp-folder.ts';

type Entry = Partial<Header> & { name: string; body?: string };

/** Builds a tar in memory from entry headers, the way a hostile upload could. */
async function buildTar(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (header.type === undefined || header.type === 'file') pack.entry({ mode: 0o644, ...header }, body ?? '', done);
      else pack.entry({ mode: 0o755, ...header }, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

async function exists(filePath: string): Promise<boolean> {
  return access(filePath).then(
    () => true,
    () => false,
  );
}

describe('layer unpacker safety', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let outside: string;

  beforeAll(async () => {
    temp = await makeTempFolder('unpack-safety');
    outside = path.join(temp.path, 'outside');
    await mkdir(outside);
  });

  afterAll(async () => {
    await temp?.remove();
  });

  const hostileLayers: [string, () => Entry[]][] = [
    ['an entry that climbs out with ..', () => [{ name: '../x', body: 'escaped' }]],
    ['an entry that climbs out after a folder', () => [{ name: 'a/../../x', body: 'escaped' }]],
    [
      'an entry through an absolute symlink to /etc',
      () => [
        { name: 'link', type: 'symlink', linkname: '/etc' },
        { name: 'link/slipway-test-must-not-exist', body: 'escaped' },
      ],
    ],
    [
      'an entry through a symlink to a folder outside',
      () => [
        { name: 'dir/', type: 'directory' },
        { name: 'dir/link', type: 'symlink', linkname: outside },
        { name: 'dir/link/escaped.txt', body: 'escaped' },
      ],
    ],
    [
      'an entry through a relative symlink that climbs out',
      () => [
        { name: 'up', type: 'symlink', linkname: '../outside' },
        { name: 'up/escaped.txt', body: 'escaped' },
      ],
    ],
    ['a hard link to /etc/passwd', () => [{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }]],
    ['a hard link that climbs out', () => [{ name: 'passwd', type: 'link', linkname: '../../../../etc/passwd' }]],
    [
      'a hard link through a symlink',
      () => [
        { name: 'etc-link', type: 'symlink', linkname: '/etc' },
        { name: 'passwd', type: 'link', linkname: 'etc-link/passwd' },
      ],
    ],
  ];

  it.each(hostileLayers)('rejects %s and leaves nothing behind', async (_case, entries) => {
    const target = path.join(temp.path, `target-${Math.random().toString(36).slice(2)}`);
    const tar = gzipSync(await buildTar([{ name: 'first.txt', body: 'unpacked before the bad entry' }, ...entries()]));

    await expect(unpackLayer(Readable.from([tar]), target)).rejects.toMatchObject({ code: 'LAYER_ENTRY_UNSAFE' });
    expect(await exists(target)).toBe(false);
    expect(await exists(path.join(temp.path, 'x'))).toBe(false);
    expect(await exists(path.join(outside, 'escaped.txt'))).toBe(false);
    expect(await exists('/etc/slipway-test-must-not-exist')).toBe(false);
  });

  it('keeps a host file unchanged when a layer links to it', async () => {
    const before = await stat('/etc/passwd');
    const tar = await buildTar([{ name: 'passwd', type: 'link', linkname: '/etc/passwd' }]);
    await unpackLayer(Readable.from([tar]), path.join(temp.path, 'link-target')).catch(() => {});

    expect((await stat('/etc/passwd')).nlink).toBe(before.nlink);
  });

  it('resolves absolute names inside the target', async () => {
    const target = path.join(temp.path, 'absolute-names');
    const tar = await buildTar([
      { name: '/etc/', type: 'directory' },
      { name: '/etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' },
      { name: '/etc/passwd-link', type: 'link', linkname: '/etc/passwd' },
      { name: './etc/./sub/../hostname', body: 'cleaned\n' },
    ]);
    await unpackLayer(Readable.from([tar]), target);

    expect((await stat(path.join(target, 'etc/passwd-link'))).ino).toBe((await stat(path.join(target, 'etc/passwd'))).ino);
    expect(await readFile(path.join(target, 'etc/hostname'), 'utf8')).toBe('cleaned\n');
  });

  it('keeps absolute symlinks without following them', async () => {
    const target = path.join(temp.path, 'symlinks');
    const tar = await buildTar([{ name: 'etc-link', type: 'symlink', linkname: '/etc' }]);
    await unpackLayer(Readable.from([tar]), target);

    expect(await readlink(path.join(target, 'etc-link'))).toBe('/etc');
  });

  it('replaces a symlink with a later file of the same name', async () => {
    const target = path.join(temp.path, 'replace-symlink');
    const victim = path.join(outside, 'victim.txt');
    const tar = await buildTar([
      { name: 'file', type: 'symlink', linkname: victim },
      { name: 'file', body: 'second entry wins' },
    ]);
    await unpackLayer(Readable.from([tar]), target);

    expect(await readFile(path.join(target, 'file'), 'utf8')).toBe('second entry wins');
    expect(await exists(victim)).toBe(false);
  });

  it('rejects a diff_id mismatch and removes the target', async () => {
    const target = path.join(temp.path, 'diff-id');
    const tar = await buildTar([{ name: 'hello.txt', body: 'hello' }]);

    await expect(unpackLayer(Readable.from([tar]), target, { expectedDiffId: sha256Digest('other content') })).rejects.toMatchObject({
      code: 'LAYER_DIFF_ID_MISMATCH',
    });
    expect(await exists(target)).toBe(false);
  });

  it('accepts the matching diff_id of an uncompressed tar', async () => {
    const tar = await buildTar([{ name: 'hello.txt', body: 'hello' }]);
    const result = await unpackLayer(Readable.from([tar]), path.join(temp.path, 'diff-id-ok'), { expectedDiffId: sha256Digest(tar) });

    expect(result.diffId).toBe(sha256Digest(tar));
  });

  it('rejects a zstd layer as unsupported', async () => {
    const zstdFrame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x00, 0x00]);

    await expect(unpackLayer(Readable.from([zstdFrame]), path.join(temp.path, 'zstd'))).rejects.toMatchObject({
      code: 'LAYER_COMPRESSION_UNSUPPORTED',
    });
  });

  it('rejects a target folder that is not empty', async () => {
    const target = path.join(temp.path, 'not-empty');
    await mkdir(path.join(target, 'something'), { recursive: true });
    const tar = await buildTar([{ name: 'hello.txt', body: 'hello' }]);

    await expect(unpackLayer(Readable.from([tar]), target)).rejects.toMatchObject({ code: 'LAYER_TARGET_NOT_EMPTY' });
    expect(await exists(path.join(target, 'something'))).toBe(true);
  });
});
