import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rootLogger } from '../../shared/logger.ts';
import { UploadSessions } from './upload-sessions.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('UploadSessions', () => {
  let root: string;
  let uploads: UploadSessions;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'slipway-uploads-'));
    uploads = new UploadSessions(root, rootLogger);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('appends chunks in order', async () => {
    const session = await uploads.create('web');

    expect(await uploads.append(session, Readable.from([Buffer.from('abc')]), { start: 0, length: 3 })).toBe(3);
    expect(await uploads.append(session, Readable.from([Buffer.from('de')]))).toBe(5);
  });

  it('cuts off a chunk shorter than its range announced', async () => {
    const session = await uploads.create('web');

    await expect(uploads.append(session, Readable.from([Buffer.from('ab')]), { start: 0, length: 5 })).rejects.toMatchObject({ registryCode: 'SIZE_INVALID' });
    expect(await uploads.size(session)).toBe(0);
  });

  it('finds a session only under its own repository', async () => {
    const session = await uploads.create('web');

    await expect(uploads.open(session.id, 'other')).rejects.toMatchObject({ registryCode: 'BLOB_UPLOAD_UNKNOWN' });
    expect((await uploads.open(session.id, 'web')).dataPath).toBe(session.dataPath);
  });

  it.each(['../escape', 'not-a-uuid'])('refuses the upload id %s', async (id) => {
    await expect(uploads.open(id, 'web')).rejects.toMatchObject({ registryCode: 'BLOB_UPLOAD_UNKNOWN' });
  });

  it('sweeps uploads untouched for a day and keeps newer ones', async () => {
    const stale = await uploads.create('web');
    const fresh = await uploads.create('web');
    const longAgo = new Date(Date.now() - 2 * DAY_MS);
    await utimes(stale.dataPath, longAgo, longAgo);

    expect(await uploads.sweep()).toBe(1);
    expect(await readdir(root)).toEqual([fresh.id]);
  });
});
