import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builds } from '../../../shared/db/schema.ts';
import { createTempFolder, writeArchive, type FixtureEntry, type TempFolder } from '../../../shared/build-context/testing/archive-fixtures.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';

let api: ApiHarness;
let scratch: TempFolder;

const DOCKERFILE = 'FROM debian:bookworm\nCMD ["true"]\n';

beforeAll(async () => {
  api = await startApiHarness('deploys_api', { SLIPWAY_MAX_CONTEXT_BYTES: String(64 * 1024) });
  scratch = await createTempFolder();
  await api.request('POST', '/v1/apps', { json: { name: 'web' } });
});

afterAll(async () => {
  await scratch?.remove();
  await api?.close();
});

async function archive(name: string, entries: FixtureEntry[], gzip = false): Promise<Blob> {
  const file = path.join(scratch.path, name);
  await writeArchive(file, entries, { gzip });
  return new Blob([await readFile(file)]);
}

async function upload(body: BodyInit, query = ''): Promise<Response> {
  return api.request('POST', `/v1/apps/web/deploys${query}`, { body, headers: { 'content-type': 'application/x-tar' } });
}

/** Blobs and temporary files the store holds, to show that a rejection left nothing. */
async function storedFiles(): Promise<string[]> {
  const blobDir = path.join(api.dataDir, 'storage', 'blobs', 'sha256');
  const blobsList = await readdir(blobDir).catch(() => [] as string[]);
  const tmp = await readdir(path.join(api.dataDir, 'tmp')).catch(() => [] as string[]);
  return [...blobsList, ...tmp];
}

describe('deploy upload', () => {
  it('accepts a gzip context, stores it and queues a build', async () => {
    const body = await archive('good.tgz', [{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'app/main.py', content: 'print(1)\n' }], true);
    const response = await upload(body);
    expect(response.status).toBe(202);

    const created = await response.json();
    expect(created.build.status).toBe('queued');
    const build = await (await api.request('GET', `/v1/builds/${created.build.id}`)).json();
    expect(build).toMatchObject({ id: created.build.id, app: 'web', status: 'queued', dockerfile: 'Dockerfile' });
    expect(await api.deps.blobs.stat(build.contextDigest)).toEqual({ size: body.size });
    expect(await api.deps.buildQueue.getJob(created.build.id)).toBeTruthy();
  });

  it('accepts a plain tar with a Dockerfile elsewhere', async () => {
    const body = await archive('named.tar', [{ name: 'docker/Dockerfile.prod', content: DOCKERFILE }]);
    const response = await upload(body, '?dockerfile=docker/Dockerfile.prod');
    expect(response.status).toBe(202);
  });

  describe('rejections leave nothing behind', () => {
    let before: string[];
    let buildCount: number;

    beforeAll(async () => {
      before = await storedFiles();
      buildCount = (await api.database.db.select().from(builds)).length;
    });

    afterAll(async () => {
      expect(await storedFiles()).toEqual(before);
      expect((await api.database.db.select().from(builds)).length).toBe(buildCount);
    });

    it('rejects a body that is not a tar with 400', async () => {
      const response = await upload('just some text, not an archive');
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('CONTEXT_NOT_A_TAR');
    });

    it.each([
      ['climbs out with ../', '../x', 'CONTEXT_ENTRY_OUTSIDE_ROOT'],
      ['is absolute', '/etc/x', 'CONTEXT_ENTRY_ABSOLUTE_PATH'],
    ])('rejects an entry that %s', async (_case, name, code) => {
      const body = await archive(`bad-${code}.tar`, [{ name: 'Dockerfile', content: DOCKERFILE }, { name, content: 'x' }]);
      const response = await upload(body);
      expect(response.status).toBe(400);
      const { error } = await response.json();
      expect(error.code).toBe(code);
      expect(error.message).toContain(name);
    });

    it('rejects a write through a symlink that points outside', async () => {
      const body = await archive('through-link.tar', [
        { name: 'Dockerfile', content: DOCKERFILE },
        { name: 'link', type: 'symlink', linkname: '/etc' },
        { name: 'link/passwd', content: 'root::0:0::/:/bin/sh\n' },
      ]);
      const response = await upload(body);
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('CONTEXT_ENTRY_THROUGH_SYMLINK');
    });

    it('rejects a context without its Dockerfile', async () => {
      const body = await archive('no-dockerfile.tar', [{ name: 'app.py', content: 'print(1)\n' }]);
      const response = await upload(body);
      expect(response.status).toBe(400);
      const { error } = await response.json();
      expect(error.code).toBe('DOCKERFILE_NOT_FOUND');
      expect(error.message).toContain('Dockerfile');
    });

    it('rejects an unknown instruction, naming its line', async () => {
      const body = await archive('unknown.tar', [{ name: 'Dockerfile', content: 'FROM debian:bookworm\nRUN true\nFROBNICATE now\n' }]);
      const response = await upload(body);
      expect(response.status).toBe(400);
      const { error } = await response.json();
      expect(error.code).toBe('DOCKERFILE_UNKNOWN_INSTRUCTION');
      expect(error.line).toBe(3);
      expect(error.message).toContain('FROBNICATE');
    });

    it('rejects an unknown build target', async () => {
      const body = await archive('target.tar', [{ name: 'Dockerfile', content: DOCKERFILE }]);
      const response = await upload(body, '?target=nowhere');
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('DOCKERFILE_TARGET_NOT_FOUND');
    });

    it('rejects a malformed build arg', async () => {
      const body = await archive('arg.tar', [{ name: 'Dockerfile', content: DOCKERFILE }]);
      const response = await upload(body, '?build-arg=no-equals-sign');
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('BUILD_ARG_INVALID');
    });

    it('rejects a Dockerfile path outside the context', async () => {
      const body = await archive('ok.tar', [{ name: 'Dockerfile', content: DOCKERFILE }]);
      const response = await upload(body, '?dockerfile=../Dockerfile');
      expect(response.status).toBe(400);
      expect((await response.json()).error.code).toBe('DOCKERFILE_PATH_INVALID');
    });

    it('rejects a context over the size limit with 413', async () => {
      const body = await archive('big.tar', [{ name: 'Dockerfile', content: DOCKERFILE }, { name: 'blob', content: Buffer.alloc(128 * 1024, 7) }]);
      const response = await upload(body);
      expect(response.status).toBe(413);
      expect((await response.json()).error.code).toBe('CONTEXT_TOO_LARGE');
    });

    it('rejects a deploy to an unknown app with 404', async () => {
      const body = await archive('ok2.tar', [{ name: 'Dockerfile', content: DOCKERFILE }]);
      const response = await api.request('POST', '/v1/apps/ghost/deploys', { body });
      expect(response.status).toBe(404);
    });

    it('rejects a deploy without a token with 401', async () => {
      const body = await archive('ok3.tar', [{ name: 'Dockerfile', content: DOCKERFILE }]);
      const response = await api.request('POST', '/v1/apps/web/deploys', { body, headers: { authorization: '' } });
      expect(response.status).toBe(401);
    });
  });

  it('answers 404 for an unknown build id', async () => {
    const response = await api.request('GET', '/v1/builds/00000000-0000-4000-8000-000000000000');
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('BUILD_NOT_FOUND');
  });

  it('answers 404 for a build id that is not a uuid', async () => {
    const response = await api.request('GET', '/v1/builds/nonsense');
    expect(response.status).toBe(404);
  });
});
