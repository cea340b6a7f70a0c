import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEBIAN_MIRROR, DEFAULT_SECURITY_MIRROR, readHostDebianMirrors } from '../../../infra/base-images/apt-sources.ts';
import { makeTempFolder } from './support/temp-folder.ts';

describe('host apt mirrors', () => {
  let temp: Awaited<ReturnType<typeof makeTempFolder>>;

  async function aptDir(name: string, files: Record<string, string>): Promise<string> {
    const dir = path.join(temp.path, name);
    await mkdir(path.join(dir, 'sources.list.d'), { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(path.join(dir, file), text);
    return dir;
  }

  beforeAll(async () => {
    temp = await makeTempFolder('apt-sources');
  });

  afterAll(async () => {
    await temp?.remove();
  });

  it('reads deb822 sources and skips disabled ones', async () => {
    const dir = await aptDir('deb822', {
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://disabled.invalid/debian',
        'Suites: bookworm',
        'Enabled: no',
        '',
        'Types: deb',
        '# a comment line',
        'URIs: http://mirror.invalid/debian/',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://security.invalid/debian-security',
        'Suites: bookworm-security',
        '',
      ].join('\n'),
    });

    expect(await readHostDebianMirrors('bookworm', dir)).toEqual({
      mirror: 'http://mirror.invalid/debian',
      securityMirror: 'http://security.invalid/debian-security',
    });
  });

  it('reads one-line sources with options', async () => {
    const dir = await aptDir('one-line', { 'sources.list': '# comment\ndeb [arch=amd64] http://mirror.invalid/debian bookworm main\n' });

    expect((await readHostDebianMirrors('bookworm', dir)).mirror).toBe('http://mirror.invalid/debian');
  });

  it('falls back to deb.debian.org without sources', async () => {
    const dir = await aptDir('empty', {});

    expect(await readHostDebianMirrors('bookworm', dir)).toEqual({ mirror: DEFAULT_DEBIAN_MIRROR, securityMirror: DEFAULT_SECURITY_MIRROR });
  });
});
