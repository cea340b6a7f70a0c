import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSecretHeader } from './secret-option.ts';

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'slipway-secret-option-'));
  await writeFile(path.join(folder, 'token.txt'), 'from a file');
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('buildSecretHeader', () => {
  it('reads a file, a named variable and a variable named like the id', async () => {
    const header = await buildSecretHeader([`id=npm,src=${path.join(folder, 'token.txt')}`, 'id=api,env=API_KEY', 'id=PLAIN'], { API_KEY: 'key value', PLAIN: 'plain' });
    expect(header).toBe(`npm=${base64('from a file')},api=${base64('key value')},PLAIN=${base64('plain')}`);
  });

  it('returns null without secrets', async () => {
    expect(await buildSecretHeader([])).toBeNull();
  });

  it.each([
    ['src=/x', 'give id=NAME'],
    ['id=missing', 'the environment variable missing is not set'],
    ['id=f,src=/nonexistent/secret', 'the file /nonexistent/secret is not readable (ENOENT)'],
  ])('rejects %j', async (spec, reason) => {
    await expect(buildSecretHeader([spec], {})).rejects.toThrow(reason);
  });
});
