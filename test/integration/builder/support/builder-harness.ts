import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { inject } from 'vitest';
import type { Readable } from 'node:stream';
import type { BlobStore, PutBlobOptions, StoredBlob } from '../../../../shared/blobs/blob-store.ts';
import { LocalBlobStore } from '../../../../shared/blobs/local-blob-store.ts';
import { loadConfig, type Config } from '../../../../shared/config.ts';
import { Runc } from '../../../../shared/container/runc.ts';
import { openDatabase, type DatabaseHandle } from '../../../../shared/db/database.ts';
import { isSlipwayError, type SlipwayError } from '../../../../shared/errors.ts';
import { ImageStore } from '../../../../shared/images/image-store.ts';
import { LayerCache } from '../../../../shared/layers/layer-cache.ts';
import { writeLayer } from '../../../../shared/layers/layer-writer.ts';
import { rootLogger } from '../../../../shared/logger.ts';
import { BridgeNetwork } from '../../../../shared/network/bridge-network.ts';
import { parseImageReference } from '../../../../shared/oci/image-reference.ts';
import type { ImageConfig, StoredImage } from '../../../../shared/oci/image-types.ts';
import type { Digest } from '../../../../shared/oci/digest.ts';
import { MediaType } from '../../../../shared/oci/media-types.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../../shared/redis/embedded-redis.ts';
import { connectRedis } from '../../../../shared/redis/redis-connection.ts';
import { BuildOutput } from '../../../../workers/build/build-output.ts';
import { buildImage, type BuildResult } from '../../../../workers/build/image-builder.ts';
import { createTestDatabase } from '../../../support/postgres-server.ts';
import { makeBusyboxRoot } from '../../../support/rootfs.ts';

const execFileAsync = promisify(execFile);

/** The busybox base image every builder test starts from (tagged in the test's own store). */
export const BUSYBOX_IMAGE = 'slipway-test/busybox:1';
/** A file of the busybox base image, for tests that delete or read it. */
export const BASE_FILE = '/etc/base-file.txt';

/** A context file: text content, or content with a mode, or a symbolic link. */
export type ContextEntry = string | { content: string | Buffer; mode: number } | { symlink: string };

export interface BuildRequest {
  dockerfile: string;
  files?: Record<string, ContextEntry>;
  /** An existing context folder to use instead of writing `files`. */
  contextDir?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  signal?: AbortSignal;
  /** Build secrets by id, for RUN --mount=type=secret. */
  secrets?: Record<string, string>;
  /** Owner of the cache mounts; `app-1` when absent. */
  cacheMountScope?: string;
  /** Owner of the app; absent, the build shares the unscoped cache. */
  owner?: string;
}

/**
 * What a build runs with on one worker: its layer cache and runc state. Two builders
 * that share the harness's database and blob store act like two worker hosts.
 */
export interface WorkerInstance {
  layers: LayerCache;
  runc: Runc;
}

/** The blob store with a count of the writes, so a test can check that a build uploaded nothing. */
export class CountingBlobStore implements BlobStore {
  writes = 0;

  constructor(private readonly inner: BlobStore) {}

  put(content: Readable, options?: PutBlobOptions): Promise<StoredBlob> {
    this.writes += 1;
    return this.inner.put(content, options);
  }

  putFile(filePath: string, options?: PutBlobOptions): Promise<StoredBlob> {
    this.writes += 1;
    return this.inner.putFile(filePath, options);
  }

  get(digest: Digest) {
    return this.inner.get(digest);
  }

  stat(digest: Digest) {
    return this.inner.stat(digest);
  }

  delete(digest: Digest) {
    return this.inner.delete(digest);
  }

  ping() {
    return this.inner.ping();
  }
}

export interface BuildRun {
  result?: BuildResult;
  error?: SlipwayError;
  /** Everything the build wrote to its output. */
  output: string;
  buildId: string;
}

/** A BuildOutput that also keeps the text it was given, so a test can read what the user saw. */
class RecordingOutput extends BuildOutput {
  text = '';

  override write(text: string, streamName = 'stdout'): void {
    this.text += text;
    super.write(text, streamName);
  }
}

/**
 * Real builder dependencies in a temporary folder. They are a Postgres database of the
 * test file's own, local blob files, the layer cache, runc with its own state folder, a
 * bridge network with its own name and subnet, and an embedded redis-server for build
 * output. The busybox base image is stored and tagged as BUSYBOX_IMAGE.
 */
export class BuilderHarness {
  readonly bridgeName = `swb${randomBytes(4).toString('hex')}`;
  config!: Config;
  database!: DatabaseHandle;
  blobs!: CountingBlobStore;
  images!: ImageStore;
  /** Most bytes one build may write; the builder's default when undefined. */
  diskLimitBytes: number | undefined;
  layers!: LayerCache;
  runc!: Runc;
  network!: BridgeNetwork;
  baseImage!: StoredImage;
  private redisServer!: EmbeddedRedis;
  private redis!: Redis;
  private logBlobs!: LocalBlobStore;
  private counter = 0;

  private constructor(readonly dir: string) {}

  static async start(name: string, configOverrides: Partial<Config> = {}): Promise<BuilderHarness> {
    const harness = new BuilderHarness(await mkdtemp(path.join(tmpdir(), `slipway-builder-${name}-`)));
    await harness.setUp(name, configOverrides);
    return harness;
  }

  private async setUp(name: string, configOverrides: Partial<Config>): Promise<void> {
    const subnet = await pickFreeSubnet();
    this.config = {
      ...loadConfig({ SLIPWAY_DATA_DIR: path.join(this.dir, 'data') }),
      bridgeName: this.bridgeName,
      bridgeSubnet: subnet,
      buildMemoryBytes: 256 * 1024 * 1024,
      buildPidsLimit: 256,
      buildStepTimeoutMs: 120_000,
      ...configOverrides,
    };
    const databaseUrl = await createTestDatabase(inject('postgresUrl'), `builder_${name.replace(/-/g, '_')}`);
    this.database = await openDatabase({ databaseUrl, dataDir: this.config.dataDir });
    this.blobs = new CountingBlobStore(new LocalBlobStore(path.join(this.dir, 'store')));
    this.logBlobs = new LocalBlobStore(path.join(this.dir, 'logs'));
    this.images = new ImageStore(this.database.db, this.blobs);
    this.layers = new LayerCache(path.join(this.dir, 'layer-cache'), this.blobs);
    this.runc = new Runc({ stateDir: path.join(this.dir, 'runc') });
    this.network = new BridgeNetwork({ bridgeName: this.bridgeName, subnet, stateDir: path.join(this.dir, 'network') });
    await this.network.setup();
    this.redisServer = await startEmbeddedRedis(path.join(this.dir, 'redis'));
    this.redis = connectRedis({ socketPath: this.redisServer.socketPath });

    const root = path.join(this.dir, 'busybox-root');
    await makeBusyboxRoot(root);
    await writeFile(path.join(root, BASE_FILE), 'from the base image\n');
    this.baseImage = await this.storeImage(root, BUSYBOX_IMAGE);
  }

  /** Stores a folder as a one-layer image and tags it. Fields of `config` replace the default ones. */
  async storeImage(rootDir: string, reference: string, config: Partial<ImageConfig> = {}): Promise<StoredImage> {
    const file = path.join(this.dir, `image-${(this.counter += 1)}.tar.gz`);
    const layer = await writeLayer(rootDir, file);
    await this.blobs.putFile(file, { expectedDigest: layer.digest });
    await rm(file);
    const imageConfig: ImageConfig = {
      created: '2024-01-02T03:04:05Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2024-01-02T03:04:05Z', created_by: 'busybox root for tests' }],
      ...config,
    };
    const image = await this.images.putImage(imageConfig, [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }]);
    await this.images.tag(parseImageReference(reference), image.digest);
    return image;
  }

  /** Makes a busybox root with `change` applied, for base images that need more than the default one. */
  async makeRoot(name: string, change: (root: string) => Promise<void>): Promise<string> {
    const root = path.join(this.dir, `root-${name}`);
    await makeBusyboxRoot(root);
    await change(root);
    return root;
  }

  /** Writes a build context folder from a map of relative paths to entries. */
  async writeContext(files: Record<string, ContextEntry>): Promise<string> {
    const contextDir = path.join(this.dir, 'contexts', String((this.counter += 1)));
    await mkdir(contextDir, { recursive: true });
    for (const [relative, entry] of Object.entries(files)) {
      const target = path.join(contextDir, relative);
      await mkdir(path.dirname(target), { recursive: true });
      if (typeof entry === 'string') await writeFile(target, entry);
      else if ('symlink' in entry) await symlink(entry.symlink, target);
      else {
        await writeFile(target, entry.content);
        await chmod(target, entry.mode);
      }
    }
    return contextDir;
  }

  /** Makes another worker instance with a layer cache and runc state of its own, sharing the database and blob store. */
  addWorker(name: string): WorkerInstance {
    return {
      layers: new LayerCache(path.join(this.dir, `layer-cache-${name}`), this.blobs),
      runc: new Runc({ stateDir: path.join(this.dir, `runc-${name}`) }),
    };
  }

  /** Runs a build and returns its result or its error, with the output the user saw. */
  async build(request: BuildRequest, worker: WorkerInstance = { layers: this.layers, runc: this.runc }): Promise<BuildRun> {
    const number = (this.counter += 1);
    // Unique across runs: the kernel log, which limit errors are read from, outlives a test run.
    const buildId = `test-${number}-${randomBytes(3).toString('hex')}`;
    const contextDir = request.contextDir ?? (await this.writeContext(request.files ?? {}));
    const outputDir = path.join(this.dir, 'outputs', String(number));
    await mkdir(outputDir, { recursive: true });
    const output = new RecordingOutput(this.redis, buildId, path.join(outputDir, 'build.log'));
    // The work folder must be on the layer cache's filesystem, which the harness folder is.
    const workDir = path.join(this.dir, 'work', String(number));

    const run: BuildRun = { output: '', buildId };
    try {
      const secrets = new Map(Object.entries(request.secrets ?? {}).map(([id, value]) => [id, Buffer.from(value)] as const));
      run.result = await buildImage(
        {
          buildId,
          contextDir,
          dockerfile: request.dockerfile,
          buildArgs: request.buildArgs ?? {},
          target: request.target,
          noCache: request.noCache,
          secrets,
          cacheMountScope: request.cacheMountScope ?? 'app-1',
          owner: request.owner,
          output,
          signal: request.signal,
        },
        {
          config: this.config,
          db: this.database.db,
          blobs: this.blobs,
          images: this.images,
          layers: worker.layers,
          runc: worker.runc,
          network: this.network,
          workDir,
          diskLimitBytes: this.diskLimitBytes,
          log: rootLogger.child({ test: 'builder' }),
        },
      );
    } catch (error) {
      if (!isSlipwayError(error)) throw error;
      run.error = error;
    } finally {
      await output.finish(run.error ? 'failed' : 'succeeded', this.logBlobs);
      await rm(workDir, { recursive: true, force: true });
    }
    run.output = output.text;
    return run;
  }

  /** Runs a build that must succeed and returns its image. */
  async buildOk(request: BuildRequest, worker?: WorkerInstance): Promise<{ image: StoredImage; output: string }> {
    const run = await this.build(request, worker);
    if (run.error) throw new Error(`build failed: ${run.error.code}: ${run.error.message}\n${run.output}`);
    return { image: run.result!.image, output: run.output };
  }

  /** Lists the digests of every blob in the store. */
  async blobDigests(): Promise<string[]> {
    return (await readdir(path.join(this.dir, 'store', 'blobs', 'sha256')).catch(() => [] as string[])).sort();
  }

  /** Lists what a build can leave behind on the host: runc containers, mounts, network namespaces and cgroups. */
  async leftovers(): Promise<{ containers: string[]; mounts: string[]; namespaces: string[]; cgroups: string[] }> {
    const containers = (await this.runc.list()).map((container) => container.id);
    const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
    const mounts = mountInfo
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((mountPoint) => mountPoint.startsWith(`${this.dir}/`));
    const namespaces = (await readdir('/run/netns').catch(() => [] as string[])).filter((name) => name.startsWith(`${this.bridgeName}-`));
    const cgroups: string[] = [];
    for (const controller of await readdir('/sys/fs/cgroup')) {
      const names = await readdir(path.join('/sys/fs/cgroup', controller, 'slipway-build')).catch(() => [] as string[]);
      cgroups.push(...names.filter((entry) => entry.startsWith('build-test-')).map((entry) => `${controller}/${entry}`));
    }
    return { containers, mounts, namespaces, cgroups };
  }

  async stop(): Promise<void> {
    // runc leaves the shared parent cgroup of build containers; it goes when empty.
    for (const controller of await readdir('/sys/fs/cgroup')) {
      await rmdir(path.join('/sys/fs/cgroup', controller, 'slipway-build')).catch(() => undefined);
    }
    await this.network?.teardown().catch(() => undefined);
    this.redis?.disconnect();
    await this.redisServer?.stop();
    await this.database?.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Picks a /24 under 10.245.0.0/16 that no route of this host uses. */
async function pickFreeSubnet(): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['-4', 'route', 'show']);
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const prefix = `10.245.${randomInt(0, 256)}.`;
    if (!stdout.includes(prefix)) return `${prefix}0/24`;
  }
  throw new Error('No free 10.245.x.0/24 subnet found for the test bridge');
}
