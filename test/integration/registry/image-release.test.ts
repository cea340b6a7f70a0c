import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploys, releases, runners } from '../../../shared/db/schema.ts';
import { MediaType } from '../../../shared/oci/media-types.ts';
import { runnerQueueName } from '../../../shared/queue/queue-names.ts';
import { bullConnection } from '../../../shared/services.ts';
import { startApiHarness, type ApiHarness } from '../../support/api-harness.ts';
import { basicAuth, inProcessSender, pushBlob, pushManifest, type Send } from './support/registry-client.ts';
import { imageConfig, makeLayer, pushImage, type LayerFile, type PushedImage } from './support/test-images.ts';

const RUNNER_ID = 'image-release-test-runner';

let api: ApiHarness;
let send: Send;
let scratch: string;
let layer: LayerFile;
let amd64: PushedImage;
let registryHost: string;

beforeAll(async () => {
  api = await startApiHarness('image_release');
  send = inProcessSender(api.app, basicAuth(api.token));
  scratch = await mkdtemp(path.join(tmpdir(), 'slipway-image-release-'));
  registryHost = `127.0.0.1:${api.deps.config.apiPort}`;
  expect((await api.request('POST', '/v1/apps', { json: { name: 'web' } })).status).toBe(201);

  layer = await makeLayer(scratch, 'app', async (root) => writeFile(path.join(root, 'app.txt'), 'app\n'));
  amd64 = await pushImage(send, 'web', 'amd64', [layer], imageConfig([layer]));
});

afterAll(async () => {
  await api?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

function release(image: string, app = 'web'): Promise<Response> {
  return api.request('POST', `/v1/apps/${app}/releases`, { json: { image } });
}

async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}

describe('deploying an image that cannot run', () => {
  it.each([
    ['an unknown tag', () => `${registryHost}/web:missing`, 404, 'IMAGE_NOT_FOUND'],
    ['an image of another registry', () => 'registry.example.test/team/web:1', 404, 'IMAGE_NOT_FOUND'],
    ['an invalid reference', () => 'Not A Reference', 400, 'IMAGE_REFERENCE_INVALID'],
  ])('rejects %s', async (_case, reference, status, code) => {
    const response = await release(reference());

    expect(response.status).toBe(status);
    expect(await errorCode(response)).toBe(code);
  });

  it('rejects an unknown app', async () => {
    const response = await release(`${registryHost}/web:amd64`, 'nothing');

    expect(response.status).toBe(404);
    expect(await errorCode(response)).toBe('APP_NOT_FOUND');
  });

  it('rejects an image for another platform', async () => {
    await pushImage(send, 'web', 'arm64', [layer], imageConfig([layer], { architecture: 'arm64' }));

    const response = await release(`${registryHost}/web:arm64`);

    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('IMAGE_PLATFORM_UNSUPPORTED');
  });

  it('rejects an image with zstd layers', async () => {
    const zstdLayer = await pushBlob(send, 'web', Buffer.from('not really zstd'), 'application/vnd.oci.image.layer.v1.tar+zstd');
    const config = await pushBlob(send, 'web', Buffer.from(JSON.stringify(imageConfig([layer]))), MediaType.ociConfig);
    await pushManifest(send, 'web', 'zstd', { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [zstdLayer] }, MediaType.ociManifest);

    const response = await release(`${registryHost}/web:zstd`);

    expect(response.status).toBe(400);
    expect(await errorCode(response)).toBe('LAYER_COMPRESSION_UNSUPPORTED');
  });

  it('fails the deploy when no runner is available', async () => {
    const response = await release(`${registryHost}/web:amd64`);

    expect(response.status).toBe(503);
    expect(await errorCode(response)).toBe('NO_RUNNER_AVAILABLE');
    const rows = await api.database.db.select().from(deploys);
    expect(rows.map((row) => row.status)).toEqual(['failed']);
  });
});

describe('deploying a pushed image', () => {
  let runnerQueue: Queue;

  beforeAll(async () => {
    await api.database.db.insert(runners).values({ id: RUNNER_ID, lastSeenAt: new Date() });
    const socketPath = (api.deps.redis.options as { path?: string }).path!;
    runnerQueue = new Queue(runnerQueueName(RUNNER_ID), { connection: bullConnection({ socketPath }) });
  });

  afterAll(async () => {
    await runnerQueue?.close();
  });

  it('records a release of source image and sends it to a runner', async () => {
    const response = await release(`${registryHost}/web:amd64`);

    expect(response.status).toBe(202);
    const body = (await response.json()) as { id: string; release: { version: string }; image: { digest: string } };
    expect(body.image.digest).toBe(amd64.digest);
    const [deploy] = await api.database.db.select().from(deploys).where(eq(deploys.id, body.id));
    expect(deploy?.status).toBe('releasing');
    const [row] = await api.database.db.select().from(releases).where(eq(releases.id, deploy!.releaseId!));
    expect(row).toMatchObject({ source: 'image', buildId: null, imageDigest: amd64.digest });
    expect(body.release.version).toBe(`v${row!.version}`);
    const jobs = await runnerQueue.getJobs(['waiting']);
    expect(jobs.map((job) => job.data)).toContainEqual({ kind: 'release', appId: row!.appId, releaseId: row!.id, deployId: body.id });
  });

  it('releases the amd64 manifest of an index', async () => {
    const arm = await pushImage(send, 'web', 'arm-for-index', [layer], imageConfig([layer], { architecture: 'arm64' }));
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { mediaType: MediaType.ociManifest, digest: arm.digest, size: arm.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
        { mediaType: MediaType.ociManifest, digest: amd64.digest, size: amd64.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    const pushedIndex = await pushManifest(send, 'web', 'multi', index, MediaType.ociIndex);

    const response = await release(`${registryHost}/web@${pushedIndex.digest}`);

    expect(response.status).toBe(202);
    expect(((await response.json()) as { image: { digest: string } }).image.digest).toBe(amd64.digest);
  });

  it('releases an image of the image store by its short name', async () => {
    const base = await pushImage(send, 'docker.io/library/release-base', '2', [layer], imageConfig([layer]));

    const response = await release('release-base:2');

    expect(response.status).toBe(202);
    expect(((await response.json()) as { image: { digest: string } }).image.digest).toBe(base.digest);
  });

  it('serves the new release under its version tag', async () => {
    const versions = (await api.database.db.select({ version: releases.version }).from(releases)).map((row) => row.version);

    const response = await send('GET', '/v2/web/tags/list');

    expect(((await response.json()) as { tags: string[] }).tags).toEqual(expect.arrayContaining(versions.map((version) => `v${version}`)));
  });
});
