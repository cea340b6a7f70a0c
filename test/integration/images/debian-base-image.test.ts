import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDebianBaseImage, type DebianBaseResult } from '../../../infra/base-images/make-debian-base.ts';
import { LocalBlobStore } from '../../../shared/blobs/local-blob-store.ts';
import { PROJECT_ROOT } from '../../../shared/config.ts';
import { openDatabase, type DatabaseHandle } from '../../../shared/db/database.ts';
import { ImageStore } from '../../../shared/images/image-store.ts';
import { LayerCache } from '../../../shared/layers/layer-cache.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { makeTempFolder } from './support/temp-folder.ts';

/**
 * Runs the real debootstrap, which downloads the minbase packages from the Debian
 * mirror the first time. The tarball it leaves in .cache/ makes later runs take seconds. Set
 * SLIPWAY_SKIP_DEBOOTSTRAP=1 to skip this file.
 */
const CACHE_DIR = path.join(PROJECT_ROOT, '.cache', 'base-images');

describe.skipIf(process.env.SLIPWAY_SKIP_DEBOOTSTRAP === '1')('debian base image', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;
  let database: DatabaseHandle;
  let images: ImageStore;
  let first: DebianBaseResult;
  let root: string;

  beforeAll(async () => {
    temp = await makeTempFolder('debian-base');
    database = await openDatabase({ dataDir: path.join(temp.path, 'data') });
    images = new ImageStore(database.db, new LocalBlobStore(path.join(temp.path, 'blobs')));
    first = await makeDebianBaseImage({ images, cacheDir: CACHE_DIR });
    const cache = new LayerCache(path.join(temp.path, 'layers'), images.blobs);
    [root = ''] = await cache.ensureImage(first.image);
  });

  afterAll(async () => {
    await database?.close();
    await temp?.remove();
  });

  it('tags the image under both spellings of its name', async () => {
    expect(await images.resolve(parseImageReference('debian:bookworm'))).toBe(first.image.digest);
    expect(await images.resolve(parseImageReference('docker.io/library/debian:bookworm'))).toBe(first.image.digest);
  });

  it('leaves an existing tag alone', async () => {
    const again = await makeDebianBaseImage({ images, cacheDir: CACHE_DIR });

    expect(again.reused).toBe('tag');
    expect(again.image.digest).toBe(first.image.digest);
  });

  it('rebuilds the same digest from the cached tarball', async () => {
    const rebuilt = await makeDebianBaseImage({ images, cacheDir: CACHE_DIR, force: true });

    expect(rebuilt.reused).toBe('tarball');
    expect(rebuilt.image.digest).toBe(first.image.digest);
  });

  it('has a linux/amd64 config that runs bash', () => {
    expect(first.image.config).toMatchObject({ os: 'linux', architecture: 'amd64' });
    expect(first.image.config.config?.Cmd).toEqual(['bash']);
    expect(first.image.config.config?.Env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('runs bash from the unpacked root', () => {
    const output = execFileSync('chroot', [root, '/bin/bash', '-c', 'echo "$BASH_VERSION"'], { encoding: 'utf8' });

    expect(output).toMatch(/^5\./);
  });

  it('leaves out apt lists, downloaded packages and device nodes', async () => {
    const lists = await readdir(path.join(root, 'var/lib/apt/lists'), { withFileTypes: true });

    expect(lists.filter((entry) => !entry.isDirectory()).map((entry) => entry.name)).toEqual([]);
    expect((await readdir(path.join(root, 'var/cache/apt/archives'))).filter((name) => name.endsWith('.deb'))).toEqual([]);
    expect(await readdir(path.join(root, 'dev'))).toEqual([]);
    expect((await stat(path.join(root, 'etc/machine-id'))).size).toBe(0);
  });

  it('has apt sources and settings that apt reads', async () => {
    const sources = await readFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), 'utf8');
    const settings = execFileSync('chroot', [root, 'apt-config', 'dump'], { encoding: 'utf8' });

    expect(sources).toContain('Suites: bookworm bookworm-updates');
    expect(sources).toContain('Suites: bookworm-security');
    expect(settings).toContain('Acquire::Languages:: "none";');
    expect(settings).toContain('Dir::Cache::pkgcache "";');
  });

  it('has a consistent package database', () => {
    expect(() => execFileSync('chroot', [root, 'apt-get', 'check', '-qq'], { stdio: 'pipe' })).not.toThrow();
  });
});

/** setpriv runs the probe as nobody, who must be able to read this checkout. */
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const checkoutReadable = spawnSync('setpriv', [...NOBODY, 'test', '-r', path.join(PROJECT_ROOT, 'infra/base-images/make-debian-base.ts')]).status === 0;

describe('debian base image without root', () => {
  it.skipIf(!checkoutReadable)('rejects a run by another user', async () => {
    const temp = await makeTempFolder('debian-base-user');
    try {
      await chmod(temp.path, 0o755);
      const script = path.join(temp.path, 'probe.mts');
      const builder = path.join(PROJECT_ROOT, 'infra/base-images/make-debian-base.ts');
      await writeFile(
        script,
        `const { makeDebianBaseImage } = await import(${JSON.stringify(builder)});\n` +
          "await makeDebianBaseImage({ images: {}, cacheDir: '/nonexistent' }).catch((error) => console.log(error.code));\n",
      );
      const output = execFileSync('setpriv', [...NOBODY, 'env', `HOME=${temp.path}`, 'node', '--import', 'tsx', script], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
      });

      expect(output.trim()).toBe('BASE_IMAGE_NEEDS_ROOT');
    } finally {
      await temp.remove();
    }
  });
});
