import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { limitBytes } from '../../shared/blobs/spool.ts';
import type { Logger } from '../../shared/logger.ts';
import { isUuid } from '../uuid.ts';
import { RegistryError } from './registry-errors.ts';

/** A blob upload in progress: the bytes received so far, in a file of its own. */
export interface UploadSession {
  id: string;
  repository: string;
  /** The received bytes; its size is the upload's offset. */
  dataPath: string;
  folder: string;
}

export interface UploadSessionOptions {
  /** An upload whose data has not changed for this long is removed, in ms; default 24 h. */
  staleAfterMs?: number;
  /** The minimum time between two sweeps for stale uploads, in ms; default 10 min. */
  sweepIntervalMs?: number;
  /** Largest blob an upload may grow to, in bytes; unlimited when absent. */
  maxBlobBytes?: number;
}

/**
 * Blob uploads of the registry, each in `<root>/<upload id>/` with a `data` file and a
 * `session.json` naming its repository. A new upload starts a sweep that removes
 * uploads left untouched for a day (at most one sweep per 10 minutes), so an abandoned
 * push costs disk space for a day at most. Appends to one upload run one at a time.
 */
export class UploadSessions {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly staleAfterMs: number;
  private readonly sweepIntervalMs: number;
  private readonly maxBlobBytes: number | undefined;
  private lastSweepMs = 0;

  // TODO: with several API hosts, a client's PATCH may reach another host than its POST;
  // sessions then need shared storage (S3 multipart uploads) instead of this folder.
  constructor(
    readonly root: string,
    private readonly log: Logger,
    options: UploadSessionOptions = {},
  ) {
    this.staleAfterMs = options.staleAfterMs ?? 24 * 60 * 60 * 1000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10 * 60 * 1000;
    this.maxBlobBytes = options.maxBlobBytes;
  }

  async create(repository: string): Promise<UploadSession> {
    this.sweepInBackground();
    const id = randomUUID();
    const session = this.sessionOf(id, repository);
    await mkdir(session.folder, { recursive: true, mode: 0o700 });
    await writeFile(path.join(session.folder, 'session.json'), JSON.stringify({ repository, createdAt: new Date().toISOString() }));
    await writeFile(session.dataPath, '', { flag: 'wx', mode: 0o600 });
    this.log.info({ uploadId: id, repository }, 'blob upload started');
    return session;
  }

  /** Finds an upload of `repository`; fails with BLOB_UPLOAD_UNKNOWN for an unknown, finished or other repository's id. */
  async open(id: string, repository: string): Promise<UploadSession> {
    const unknown = () =>
      new RegistryError('BLOB_UPLOAD_UNKNOWN', `Upload ${JSON.stringify(id)} of repository ${repository} is unknown: it finished, was cancelled or expired. Start a new one.`, {
        detail: { uploadId: id },
      });
    if (!isUuid(id)) throw unknown();

    const session = this.sessionOf(id, repository);
    const meta = await readFile(path.join(session.folder, 'session.json'), 'utf8').catch(() => null);
    if (meta === null || (JSON.parse(meta) as { repository?: string }).repository !== repository) throw unknown();
    return session;
  }

  async size(session: UploadSession): Promise<number> {
    return (await stat(session.dataPath)).size;
  }

  /**
   * Appends a chunk and returns the new size. With `expected`, the chunk must start at the
   * current size and have the given length. A chunk that does not is rejected (416) or cut
   * off again (400), so the upload stays as it was. The same happens to a chunk that would
   * take the upload past the blob size limit (BLOB_TOO_LARGE, sent as 413 SIZE_INVALID).
   */
  append(session: UploadSession, body: Readable, expected?: { start: number; length: number }): Promise<number> {
    return this.withLock(session.id, async () => {
      const start = await this.size(session);
      if (expected && expected.start !== start) {
        body.destroy();
        throw outOfOrder(session, start, expected.start);
      }

      const room = this.maxBlobBytes === undefined ? undefined : Math.max(0, this.maxBlobBytes - start);
      try {
        await pipeline(body, limitBytes(room), createWriteStream(session.dataPath, { flags: 'a' }));
      } catch (error) {
        await truncate(session.dataPath, start);
        throw error;
      }
      const end = await this.size(session);
      if (expected && end - start !== expected.length) {
        await truncate(session.dataPath, start);
        throw new RegistryError('SIZE_INVALID', `The chunk has ${end - start} bytes, but its Content-Range announced ${expected.length}; it was discarded.`, {
          detail: { received: end - start, expected: expected.length },
        });
      }
      return end;
    });
  }

  /** Runs `finish` on the complete data while no append can run, then removes the upload whatever the outcome. */
  complete<T>(session: UploadSession, finish: (dataPath: string) => Promise<T>): Promise<T> {
    return this.withLock(session.id, async () => {
      try {
        return await finish(session.dataPath);
      } finally {
        await this.remove(session);
      }
    });
  }

  async remove(session: UploadSession): Promise<void> {
    await rm(session.folder, { recursive: true, force: true });
  }

  /** Removes uploads whose data has not changed for `staleAfterMs`; returns how many went. */
  async sweep(nowMs = Date.now()): Promise<number> {
    const ids = await readdir(this.root).catch(() => [] as string[]);
    let removed = 0;
    for (const id of ids) {
      const folder = path.join(this.root, id);
      const changed = await stat(path.join(folder, 'data')).catch(() => stat(folder).catch(() => null));
      if (changed && nowMs - changed.mtimeMs < this.staleAfterMs) continue;
      await rm(folder, { recursive: true, force: true });
      removed += 1;
    }
    if (removed > 0) this.log.info({ removed }, 'stale blob uploads removed');
    return removed;
  }

  private sweepInBackground(): void {
    const now = Date.now();
    if (now - this.lastSweepMs < this.sweepIntervalMs) return;
    this.lastSweepMs = now;
    this.sweep(now).catch((error) => this.log.warn({ err: error }, 'sweeping stale blob uploads failed'));
  }

  private sessionOf(id: string, repository: string): UploadSession {
    const folder = path.join(this.root, id);
    return { id, repository, folder, dataPath: path.join(folder, 'data') };
  }

  private withLock<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.locks.set(id, next);
    void next
      .finally(() => {
        if (this.locks.get(id) === next) this.locks.delete(id);
      })
      .catch(() => undefined);
    return next;
  }
}

function outOfOrder(session: UploadSession, size: number, start: number): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', `The chunk starts at byte ${start}, but upload ${session.id} has ${size} bytes: send the chunk that starts at ${size}.`, {
    status: 416,
    headers: uploadHeaders(session, size),
    detail: { uploadId: session.id, size, start },
  });
}

/** Headers of every upload response: where to send the next request and what has arrived. */
export function uploadHeaders(session: UploadSession, size: number): Record<string, string> {
  return {
    Location: `/v2/${session.repository}/blobs/uploads/${session.id}`,
    // An inclusive byte range, so a new upload reports 0-0, as Docker's registry does.
    Range: `0-${Math.max(size - 1, 0)}`,
    'Docker-Upload-UUID': session.id,
  };
}
