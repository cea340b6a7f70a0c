import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../../../shared/errors.ts';
import { extractTarArchive, hasValidHeaderChecksum, isTarArchive } from './archive-source.ts';

describe('ADD archive detection', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-archive-source-'));
    await mkdir(file('tree'));
    await writeFile(file('tree/hello.txt'), 'hello\n');
    execFileSync('tar', ['-cf', file('plain.tar'), '-C', file('tree'), '.']);
    for (const [tool, extension] of [['gzip', 'gz'], ['bzip2', 'bz2'], ['xz', 'xz'], ['zstd', 'zst']] as const) {
      execFileSync('sh', ['-c', `${tool} -c "$1" > "$2"`, 'sh', file('plain.tar'), file(`archive.tar.${extension}`)]);
    }
    execFileSync('cp', [file('archive.tar.gz'), file('no-extension')]);
    await writeFile(file('notes.txt'), 'just text, no tar header\n'.repeat(40));
    await writeFile(file('empty'), '');
    await writeFile(file('zeros'), Buffer.alloc(1024));
    await writeFile(file('data.json.gz'), gzipSync(Buffer.from(JSON.stringify({ a: 'b'.repeat(600) }))));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['plain.tar', 'archive.tar.gz', 'archive.tar.bz2', 'archive.tar.xz', 'archive.tar.zst', 'no-extension'])('recognises %s as a tar archive', async (name) => {
    expect(await isTarArchive(file(name))).toBe(true);
  });

  it.each(['notes.txt', 'empty', 'zeros', 'data.json.gz'])('copies %s as a plain file', async (name) => {
    expect(await isTarArchive(file(name))).toBe(false);
  });

  it('rejects a header whose checksum is wrong', () => {
    const header = Buffer.alloc(512);
    header.write('name.txt');
    header.write('0000001\0', 148);

    expect(hasValidHeaderChecksum(header)).toBe(false);
  });

  it('extracts a compressed archive without its name telling the format', async () => {
    const target = file('extracted');
    await mkdir(target);

    await extractTarArchive(file('no-extension'), target, 'no-extension');

    expect(await readdir(target)).toEqual(['hello.txt']);
  });

  it('fails on a member written through a link of the archive', async () => {
    const target = file('evil-target');
    const outside = file('outside');
    await mkdir(target);
    await mkdir(outside);
    const staging = file('evil-staging');
    await mkdir(staging);
    execFileSync('ln', ['-s', outside, path.join(staging, 'escape')]);
    execFileSync('tar', ['-cf', file('evil.tar'), '-C', staging, 'escape']);
    // A second member named escape/pwned would be written through the link if tar followed it.
    await mkdir(path.join(staging, 'real', 'escape'), { recursive: true });
    await writeFile(path.join(staging, 'real', 'escape', 'pwned'), 'x');
    execFileSync('tar', ['-rf', file('evil.tar'), '-C', path.join(staging, 'real'), 'escape/pwned']);

    let code: string | undefined;
    try {
      await extractTarArchive(file('evil.tar'), target, 'evil.tar');
    } catch (error) {
      code = isSlipwayError(error) ? error.code : String(error);
    }

    expect(code).toBe('ADD_ARCHIVE_INVALID');
    expect(await readdir(outside)).toEqual([]);
  });
});
