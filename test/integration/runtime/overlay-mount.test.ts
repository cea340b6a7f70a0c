import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LOWER_LAYERS, MAX_MOUNT_OPTIONS_BYTES, isMountPoint, mountOverlay, type OverlayMountOptions } from '../../../shared/container/overlay-mount.ts';

const execFileAsync = promisify(execFile);

/** Reads the trusted.* xattrs of one path with getfattr, as name → value. */
async function trustedXattrs(filePath: string): Promise<Record<string, string>> {
  const { stdout } = await execFileAsync('getfattr', ['--absolute-names', '-d', '-m', '^trusted\\.', filePath]).catch(() => ({ stdout: '' }));
  const entries = stdout
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => {
      const [name, ...rest] = line.split('=');
      return [name as string, rest.join('=').replace(/^"|"$/g, '')] as const;
    });
  return Object.fromEntries(entries);
}

describe('mountOverlay', () => {
  let dir: string;
  let options: OverlayMountOptions;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-overlay-'));
    const base = path.join(dir, 'layers/base');
    const top = path.join(dir, 'layers/top');
    await mkdir(path.join(base, 'etc/app'), { recursive: true });
    await mkdir(path.join(base, 'srv/data/nested'), { recursive: true });
    await writeFile(path.join(base, 'etc/app/config'), 'base config');
    await writeFile(path.join(base, 'etc/shared'), 'from base');
    await writeFile(path.join(base, 'srv/data/nested/file'), 'nested');
    await mkdir(path.join(top, 'etc'), { recursive: true });
    await writeFile(path.join(top, 'etc/shared'), 'from top');
    options = {
      lowerDirs: [base, top],
      upperDir: path.join(dir, 'upper'),
      workDir: path.join(dir, 'work'),
      target: path.join(dir, 'merged'),
    };
  });

  afterEach(async () => {
    await execFileAsync('umount', [path.join(dir, 'merged')]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('shows the top layer over the base layer', async () => {
    const overlay = await mountOverlay(options);
    try {
      await expect(readFile(path.join(options.target, 'etc/shared'), 'utf8')).resolves.toBe('from top');
      await expect(readFile(path.join(options.target, 'etc/app/config'), 'utf8')).resolves.toBe('base config');
    } finally {
      await overlay.unmount();
    }
  });

  it('writes changes to the upper folder only', async () => {
    const overlay = await mountOverlay(options);
    try {
      await writeFile(path.join(options.target, 'etc/app/config'), 'changed');
      await writeFile(path.join(options.target, 'new-file'), 'new');
    } finally {
      await overlay.unmount();
    }

    await expect(readFile(path.join(options.upperDir, 'etc/app/config'), 'utf8')).resolves.toBe('changed');
    await expect(readFile(path.join(options.upperDir, 'new-file'), 'utf8')).resolves.toBe('new');
    await expect(readFile(path.join(dir, 'layers/base/etc/app/config'), 'utf8')).resolves.toBe('base config');
    await expect(readdir(path.join(dir, 'layers/top'))).resolves.toEqual(['etc']);
  });

  it('records a deleted lower file as a 0/0 character device', async () => {
    const overlay = await mountOverlay(options);
    try {
      await rm(path.join(options.target, 'etc/app/config'));
    } finally {
      await overlay.unmount();
    }

    const whiteout = await lstat(path.join(options.upperDir, 'etc/app/config'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
  });

  it('marks a replaced lower folder as opaque', async () => {
    const overlay = await mountOverlay(options);
    try {
      await rm(path.join(options.target, 'etc/app'), { recursive: true });
      await mkdir(path.join(options.target, 'etc/app'));
      await writeFile(path.join(options.target, 'etc/app/fresh'), 'fresh');
    } finally {
      await overlay.unmount();
    }

    const xattrs = await trustedXattrs(path.join(options.upperDir, 'etc/app'));
    expect(xattrs['trusted.overlay.opaque']).toBe('y');
    await expect(readdir(path.join(options.upperDir, 'etc/app'))).resolves.toEqual(['fresh']);
  });

  it('copies a renamed lower folder fully instead of writing a redirect', async () => {
    const overlay = await mountOverlay(options);
    try {
      await expect(rename(path.join(options.target, 'srv/data'), path.join(options.target, 'srv/moved'))).rejects.toMatchObject({
        code: 'EXDEV',
      });
      // mv falls back to copy and delete on EXDEV, as Dockerfile RUN steps do.
      await execFileAsync('mv', [path.join(options.target, 'srv/data'), path.join(options.target, 'srv/moved')]);
    } finally {
      await overlay.unmount();
    }

    await expect(readFile(path.join(options.upperDir, 'srv/moved/nested/file'), 'utf8')).resolves.toBe('nested');
    expect((await lstat(path.join(options.upperDir, 'srv/data'))).isCharacterDevice()).toBe(true);
    expect(await trustedXattrs(path.join(options.upperDir, 'srv/moved'))).not.toHaveProperty('trusted.overlay.redirect');
  });

  it('ignores a redirect xattr that a layer carries', async () => {
    // A crafted top layer whose folder claims to be /etc/app of the base layer.
    await mkdir(path.join(dir, 'layers/top/alias'));
    await execFileAsync('setfattr', ['-n', 'trusted.overlay.redirect', '-v', '/etc/app', path.join(dir, 'layers/top/alias')]);

    const overlay = await mountOverlay(options);
    try {
      await expect(readdir(path.join(options.target, 'alias'))).rejects.toMatchObject({ code: 'EPERM' });
      await expect(readdir(path.join(options.target, 'etc/app'))).resolves.toEqual(['config']);
    } finally {
      await overlay.unmount();
    }
  });

  it('keeps the upper root free of the overlay uuid xattr', async () => {
    const overlay = await mountOverlay(options);
    try {
      await writeFile(path.join(options.target, 'touched'), '');
    } finally {
      await overlay.unmount();
    }

    expect(await trustedXattrs(options.upperDir)).not.toHaveProperty('trusted.overlay.uuid');
  });

  it('mounts an image without layers on an empty folder', async () => {
    const overlay = await mountOverlay({ ...options, lowerDirs: [] });
    try {
      await expect(readdir(options.target)).resolves.toEqual([]);
      await writeFile(path.join(options.target, 'first'), 'scratch');
    } finally {
      await overlay.unmount();
    }

    await expect(readFile(path.join(options.upperDir, 'first'), 'utf8')).resolves.toBe('scratch');
  });

  it('mounts as many layers as overlayfs stacks, with paths far over one page', async () => {
    const lowerDirs: string[] = [];
    for (let index = 0; index < MAX_LOWER_LAYERS; index += 1) {
      const layer = path.join(dir, 'layer-cache', createHash('sha256').update(String(index)).digest('hex'), 'rootfs');
      await mkdir(layer, { recursive: true });
      await writeFile(path.join(layer, 'winner'), String(index));
      if (index % 100 === 0) await writeFile(path.join(layer, `file-${index}`), String(index));
      lowerDirs.push(layer);
    }
    expect(lowerDirs.join(':').length).toBeGreaterThan(10 * MAX_MOUNT_OPTIONS_BYTES);

    const overlay = await mountOverlay({ ...options, lowerDirs });
    try {
      await expect(readFile(path.join(options.target, 'winner'), 'utf8')).resolves.toBe(String(MAX_LOWER_LAYERS - 1));
      await expect(readFile(path.join(options.target, 'file-0'), 'utf8')).resolves.toBe('0');
      await expect(readFile(path.join(options.target, 'file-400'), 'utf8')).resolves.toBe('400');
    } finally {
      await overlay.unmount();
    }
    expect((await readdir(tmpdir())).filter((name) => name.startsWith('slipway-layer-links-'))).toEqual([]);
  });

  it('rejects options that do not fit even with short layer names', async () => {
    // Upper and work folders with paths of about 1,400 bytes each leave too little room for 450 layer names.
    const deep = (name: string) => path.join(dir, ...Array.from({ length: 7 }, () => 'd'.repeat(199)), name);
    const lowerDirs = Array.from({ length: 450 }, (_unused, index) => path.join(dir, `l${index}`));

    const result = mountOverlay({ ...options, lowerDirs, upperDir: deep('upper'), workDir: deep('work') });

    await expect(result).rejects.toMatchObject({ code: 'OVERLAY_TOO_MANY_LAYERS' });
    await expect(result).rejects.toThrow(/450 layers/);
    expect(await isMountPoint(options.target)).toBe(false);
  });

  it('rejects more layers than overlayfs stacks', async () => {
    const lowerDirs = Array.from({ length: MAX_LOWER_LAYERS + 1 }, (_unused, index) => path.join(dir, `l${index}`));

    await expect(mountOverlay({ ...options, lowerDirs })).rejects.toMatchObject({ code: 'OVERLAY_TOO_MANY_LAYERS' });
  });

  it('rejects a layer path with a colon', async () => {
    const result = mountOverlay({ ...options, lowerDirs: [path.join(dir, 'bad:name')] });

    await expect(result).rejects.toMatchObject({ code: 'OVERLAY_PATH_INVALID' });
  });

  it('reports a failed mount with the mount output', async () => {
    const result = mountOverlay({ ...options, lowerDirs: [path.join(dir, 'does-not-exist')] });

    await expect(result).rejects.toMatchObject({ code: 'OVERLAY_MOUNT_FAILED' });
    expect(await isMountPoint(options.target)).toBe(false);
  });

  it('unmounts once when called twice', async () => {
    const overlay = await mountOverlay(options);
    expect(await isMountPoint(options.target)).toBe(true);

    await overlay.unmount();
    await overlay.unmount();

    expect(await isMountPoint(options.target)).toBe(false);
  });

  it('unmounts at the end of an await using block', async () => {
    {
      await using overlay = await mountOverlay(options);
      expect(await isMountPoint(overlay.target)).toBe(true);
    }

    expect(await isMountPoint(options.target)).toBe(false);
  });
});
