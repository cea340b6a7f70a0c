import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { inject } from 'vitest';
import type { ApiDeps } from '../../../../api/api-deps.ts';
import { createApiToken } from '../../../../api/auth/api-tokens.ts';
import { createApiApp } from '../../../../api/create-api-app.ts';
import { removeAllMachines } from '../../../../runner/machines/host-cleanup.ts';
import { startRunner, type RunningRunner } from '../../../../runner/start-runner.ts';
import { LocalBlobStore } from '../../../../shared/blobs/local-blob-store.ts';
import { loadConfig, type Config } from '../../../../shared/config.ts';
import { openDatabase, type DatabaseHandle } from '../../../../shared/db/database.ts';
import { apps, deploys, type AppHealthCheck } from '../../../../shared/db/schema.ts';
import { ImageStore } from '../../../../shared/images/image-store.ts';
import { writeLayer } from '../../../../shared/layers/layer-writer.ts';
import { rootLogger } from '../../../../shared/logger.ts';
import { BridgeNetwork } from '../../../../shared/network/bridge-network.ts';
import type { ImageRunConfig } from '../../../../shared/oci/image-types.ts';
import { MediaType } from '../../../../shared/oci/media-types.ts';
import { BUILD_QUEUE, type BuildJob } from '../../../../shared/queue/queue-names.ts';
import { RunnerClient } from '../../../../shared/queue/runner-client.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../../../shared/redis/redis-connection.ts';
import { bullConnection, type Services } from '../../../../shared/services.ts';
import { createRelease } from '../../../../workers/release/create-release.ts';
import { createTestDatabase } from '../../../support/postgres-server.ts';
import { makeBusyboxRoot } from '../../../support/rootfs.ts';

export interface AppOptions {
  min?: number;
  max?: number;
  concurrency?: number;
  idleTimeoutS?: number;
  healthCheck?: AppHealthCheck;
}

/** A busybox image: files to add under the root, and the image config's Cmd and Healthcheck. */
export interface BusyboxImageOptions {
  files?: Record<string, string>;
  /** Files that get mode 0755, such as CGI scripts. */
  executables?: string[];
  cmd?: string[];
  healthcheck?: ImageRunConfig['Healthcheck'];
}

export interface RunnerHarness {
  config: Config;
  services: Services;
  deps: ApiDeps;
  runner: RunningRunner;
  /** Stops the runner (which leaves its containers running) and starts a new one on the same data folder. */
  restartRunner(): Promise<void>;
  image(options?: BusyboxImageOptions): Promise<string>;
  createApp(name: string, options?: AppOptions): Promise<string>;
  /** Releases an image as the next version and waits for the rollout to end; returns the deploy row. */
  deploy(appName: string, imageDigest: string): Promise<typeof deploys.$inferSelect>;
  get(app: string, urlPath?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>;
  api(method: string, url: string, json?: unknown): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Command of a busybox httpd that serves /www on 8080 and runs /cgi-bin/* as CGI scripts.
 * The shell around it exits on SIGTERM. httpd alone as pid 1 would ignore the signal, so
 * every stop would wait for the grace period.
 */
export const HTTPD_CMD = ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait'];

/**
 * Starts a runner in process (startRunner, its ingress on a free loopback port, its own bridge)
 * with the API beside it, on a Postgres database, redis-server and blob files of their own
 * in a temporary folder. Apps run busybox images made in a second, so no test needs Debian.
 */
export async function startRunnerHarness(name: string, env: Record<string, string> = {}): Promise<RunnerHarness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `slipway-runner-${name}-`));
  const databaseUrl = await createTestDatabase(inject('postgresUrl'), `test_runner_${name.replace(/\W/g, '_')}_${process.pid}`);
  const suffix = randomBytes(2).toString('hex');
  const config = loadConfig({
    SLIPWAY_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    SLIPWAY_BIND_ADDRESS: '127.0.0.1',
    SLIPWAY_HTTP_PORT: '0',
    SLIPWAY_BRIDGE_NAME: `swr${suffix}`,
    SLIPWAY_BRIDGE_SUBNET: `10.212.${Number.parseInt(suffix, 16) % 250}.0/24`,
    SLIPWAY_RUNNER_ID: `runner-${name}-${suffix}`,
    SLIPWAY_START_TIMEOUT_S: '15',
    ...env,
  });

  const database: DatabaseHandle = await openDatabase({ databaseUrl, dataDir });
  const embeddedRedis: EmbeddedRedis = await startEmbeddedRedis(path.join(dataDir, 'redis'));
  const redisLocation = { socketPath: embeddedRedis.socketPath };
  const redis = connectRedis(redisLocation);
  const blobs = new LocalBlobStore(path.join(dataDir, 'storage'));
  const images = new ImageStore(database.db, blobs);
  const services: Services = { config, database, blobs, images, redisLocation, redis, close: async () => undefined };
  const buildQueue = new Queue<BuildJob>(BUILD_QUEUE, { connection: bullConnection(redisLocation) });
  const runners = new RunnerClient(database.db, bullConnection(redisLocation));
  const deps: ApiDeps = { config, db: database.db, blobs, images, redis, buildQueue, runners, log: rootLogger };
  const apiApp = createApiApp(deps);
  const token = await createApiToken(database.db, 'test');

  const closeStores = async () => {
    await buildQueue.close();
    await runners.close();
    redis.disconnect();
    await embeddedRedis.stop();
    await database.close();
    await new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(dataDir, 'network') }).teardown();
    await rm(dataDir, { recursive: true, force: true });
  };
  let runner: RunningRunner;
  try {
    runner = await startRunner(services);
  } catch (error) {
    await closeStores();
    throw error;
  }

  const harness: RunnerHarness = {
    config,
    services,
    deps,
    runner,
    async restartRunner() {
      await harness.runner.close();
      harness.runner = await startRunner(services);
    },
    image: (options) => busyboxImage(images, blobs, dataDir, options),
    async createApp(appName, options = {}) {
      const [row] = await database.db
        .insert(apps)
        .values({
          name: appName,
          minMachines: options.min ?? 0,
          maxMachines: options.max ?? 1,
          concurrency: options.concurrency ?? 80,
          idleTimeoutS: options.idleTimeoutS ?? 300,
          healthCheck: options.healthCheck ?? null,
        })
        .returning();
      return row!.id;
    },
    async deploy(appName, imageDigest) {
      const [app] = await database.db.select().from(apps).where(eq(apps.name, appName));
      const [deploy] = await database.db.insert(deploys).values({ appId: app!.id, status: 'releasing' }).returning();
      await createRelease(deps, { appId: app!.id, buildId: null, imageDigest, deployId: deploy!.id });
      return waitForDeploy(database, deploy!.id);
    },
    get: (app, urlPath = '/') => ingressRequest(harness.runner.ingressPort, `${app}.localhost`, urlPath),
    api: (method, url, json) =>
      Promise.resolve(
        apiApp.request(url, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
          body: json === undefined ? undefined : JSON.stringify(json),
        }),
      ),
    async close() {
      await harness.runner.close();
      await removeAllMachines(dataDir);
      await closeStores();
    },
  };
  return harness;
}

async function waitForDeploy(database: DatabaseHandle, deployId: string): Promise<typeof deploys.$inferSelect> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [row] = await database.db.select().from(deploys).where(eq(deploys.id, deployId));
    if (row && (row.status === 'succeeded' || row.status === 'failed')) return row;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`deploy ${deployId} did not finish within 120 s`);
}

/** Sends a GET through the ingress with a chosen Host header and returns status, body and headers. */
function ingressRequest(port: number, host: string, urlPath: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { host }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: response.headers }));
      response.on('error', reject);
    });
    request.setTimeout(60_000, () => request.destroy(new Error(`GET ${host}${urlPath} timed out`)));
    request.on('error', reject);
  });
}

async function busyboxImage(images: ImageStore, blobs: LocalBlobStore, dataDir: string, options: BusyboxImageOptions = {}): Promise<string> {
  const work = await mkdtemp(path.join(dataDir, 'image-'));
  try {
    const root = path.join(work, 'root');
    await makeBusyboxRoot(root);
    for (const [file, content] of Object.entries(options.files ?? { 'www/index.html': 'hello from busybox\n' })) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), content);
    }
    for (const file of options.executables ?? []) await chmod(path.join(root, file), 0o755);
    await mkdir(path.join(root, 'www'), { recursive: true });

    const layerFile = path.join(work, 'layer.tar.gz');
    const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });
    await blobs.putFile(layerFile, { expectedDigest: layer.digest });
    const image = await images.putImage(
      {
        architecture: 'amd64',
        os: 'linux',
        config: {
          Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: options.cmd ?? HTTPD_CMD,
          ExposedPorts: { '8080/tcp': {} },
          ...(options.healthcheck ? { Healthcheck: options.healthcheck } : {}),
        },
        rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      },
      [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
    );
    return image.digest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
