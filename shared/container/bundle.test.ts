import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeBundle } from './bundle.ts';
import { createRuntimeSpec } from './runtime-spec.ts';

describe('writeBundle', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-bundle-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const spec = () =>
    createRuntimeSpec({
      rootfs: '/var/lib/slipway/rootfs/c1',
      args: ['true'],
      env: ['PATH=/bin'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [] },
      hostname: 'c1',
      memoryBytes: 1024 * 1024 * 64,
      pidsLimit: 10,
      cgroupsPath: '/slipway/c1',
    });

  it('writes config.json that reads back as the spec', async () => {
    const expected = await spec();

    const bundle = await writeBundle(path.join(dir, 'bundles/c1'), expected);

    expect(bundle.configPath).toBe(path.join(dir, 'bundles/c1/config.json'));
    expect(JSON.parse(await readFile(bundle.configPath, 'utf8'))).toEqual(expected);
  });

  it('rejects a folder that exists already', async () => {
    await writeBundle(path.join(dir, 'c1'), await spec());

    await expect(writeBundle(path.join(dir, 'c1'), await spec())).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('removes the folder, also when called twice', async () => {
    const bundle = await writeBundle(path.join(dir, 'c1'), await spec());

    await bundle.remove();
    await bundle.remove();

    await expect(access(bundle.dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
