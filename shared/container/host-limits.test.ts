import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CONTAINER_NOFILE, containerNofileLimit, parseHardLimit, readHardNofileLimit } from './host-limits.ts';

const LIMITS_TABLE = (openFiles: string) =>
  [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max cpu time              unlimited            unlimited            seconds   ',
    `Max open files            ${openFiles}                files     `,
    'Max processes             95000                95000                processes ',
    '',
  ].join('\n');

describe('parseHardLimit', () => {
  it.each([
    ['a number', '1024                 20000', 20000],
    ['unlimited', '1024                 unlimited', Number.POSITIVE_INFINITY],
  ])('reads a hard limit that is %s', (_case, columns, expected) => {
    expect(parseHardLimit(LIMITS_TABLE(columns), 'Max open files')).toBe(expected);
  });

  it('rejects a table without the row', () => {
    expect(() => parseHardLimit(LIMITS_TABLE('1 2'), 'Max locked memory')).toThrow(
      expect.objectContaining({ code: 'HOST_LIMITS_UNREADABLE' }),
    );
  });
});

describe('containerNofileLimit', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-limits-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['a hard limit below the cap', '1024                 20000', 20000],
    ['a hard limit above the cap', '1024                 4194304', MAX_CONTAINER_NOFILE],
    ['an unlimited hard limit', 'unlimited            unlimited', MAX_CONTAINER_NOFILE],
  ])('uses %s', async (_case, columns, expected) => {
    const limitsPath = path.join(dir, `limits-${expected}-${columns.length}`);
    await writeFile(limitsPath, LIMITS_TABLE(columns));

    await expect(containerNofileLimit(limitsPath)).resolves.toBe(expected);
  });

  it('reads the same hard limit as the shell', async () => {
    const shellText = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    const shellLimit = shellText === 'unlimited' ? Number.POSITIVE_INFINITY : Number(shellText);

    await expect(readHardNofileLimit()).resolves.toBe(shellLimit);
  });
});
