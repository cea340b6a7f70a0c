import { chmod, lstat, mkdir, mkdtemp, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checksumSources, type SourceMatch } from './source-checksum.ts';

describe('source checksum', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-source-checksum-'));
    await mkdir(path.join(dir, 'app'));
    await writeFile(path.join(dir, 'app', 'main.js'), 'console.log(1)\n');
    await symlink('main.js', path.join(dir, 'app', 'index.js'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function checksum(): Promise<string> {
    const hostPath = path.join(dir, 'app');
    const match: SourceMatch = { path: 'app', hostPath, stats: await lstat(hostPath) };
    return checksumSources([match]);
  }

  it('ignores modification times', async () => {
    const before = await checksum();
    await utimes(path.join(dir, 'app', 'main.js'), new Date('2001-01-01'), new Date('2001-01-01'));

    expect(await checksum()).toBe(before);
  });

  it.each([
    ['content', () => writeFile(path.join(dir, 'app', 'main.js'), 'console.log(2)\n')],
    ['mode', () => chmod(path.join(dir, 'app', 'main.js'), 0o755)],
    ['a new file', () => writeFile(path.join(dir, 'app', 'extra.js'), '')],
    ['a link target', async () => {
      await unlink(path.join(dir, 'app', 'index.js'));
      await symlink('other.js', path.join(dir, 'app', 'index.js'));
    }],
  ])('changes with the %s', async (_change, change) => {
    const before = await checksum();
    await change();

    expect(await checksum()).not.toBe(before);
  });
});
