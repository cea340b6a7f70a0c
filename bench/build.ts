/**
 * Builds the same Dockerfiles with Slipway's builder and with `podman build` (runc
 * runtime) side by side. It prints the time ratios of a cold build with the base image
 * present, a rebuild with nothing changed and a rebuild after one source file changed,
 * then measures the throughput of a context upload through the API.
 *
 *   node --import tsx bench/build.ts [--runs N]
 *
 * Needs root, podman and skopeo (`sh infra/host-setup.sh --bench`). Nothing is pulled
 * from a registry: the busybox base image is made locally, stored in Slipway's image
 * store and copied into a podman storage of the bench's own with skopeo. Each figure is
 * the median of N runs (default 5). docs/benchmarks.md records the results.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { loadConfig } from '../shared/config.ts';
import { Runc } from '../shared/container/runc.ts';
import { LayerCache } from '../shared/layers/layer-cache.ts';
import { writeLayer } from '../shared/layers/layer-writer.ts';
import { createLogger } from '../shared/logger.ts';
import { BridgeNetwork } from '../shared/network/bridge-network.ts';
import { digestHex, type Digest } from '../shared/oci/digest.ts';
import { parseImageReference } from '../shared/oci/image-reference.ts';
import type { StoredImage } from '../shared/oci/image-types.ts';
import { MediaType } from '../shared/oci/media-types.ts';
import { openServices, type Services } from '../shared/services.ts';
import { startSlipwayServer } from '../test/support/slipway-server.ts';
import { makeBusyboxRoot } from '../test/support/rootfs.ts';
import { BuildOutput } from '../workers/build/build-output.ts';
import { buildImage } from '../workers/build/image-builder.ts';

const execFileAsync = promisify(execFile);
const BASE = 'localhost/bench-busybox:1';
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;

/** The Dockerfiles both builders build; their RUN steps need no network. */
const DOCKERFILES: Record<string, string> = {
  'single stage': [
    `FROM ${BASE}`,
    'RUN mkdir -p /opt/tool && for i in $(seq 2000); do echo "line $i of the tool data" >> /opt/tool/data.txt; done',
    'WORKDIR /app',
    'COPY deps/ /app/deps/',
    'RUN cat /app/deps/*.txt | wc -c > /app/deps.size',
    'COPY src/ /app/src/',
    'RUN tar -cf /app/bundle.tar -C /app src && gzip -1 /app/bundle.tar',
    'CMD ["sh"]',
    '',
  ].join('\n'),
  'multi-stage': [
    `FROM ${BASE} AS deps`,
    'COPY deps/ /deps/',
    'RUN cat /deps/*.txt | sort > /deps.sorted',
    `FROM ${BASE} AS build`,
    'COPY src/ /src/',
    'RUN find /src -type f | sort | xargs cat | md5sum > /build.sum',
    `FROM ${BASE}`,
    'COPY --from=deps /deps.sorted /app/',
    'COPY --from=build /build.sum /app/',
    'CMD ["sh"]',
    '',
  ].join('\n'),
};

interface Builder {
  name: string;
  build(contextDir: string, noCache: boolean): Promise<void>;
}

interface PodmanBuilder extends Builder {
  /** Deletes the podman storage, unmounting its overlays. */
  remove(): Promise<void>;
}

const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-bench-build-'));
try {
  const contextDir = await writeContext(path.join(scratch, 'context'));
  const slipway = await startSlipwayBuilder(path.join(scratch, 'slipway'));
  try {
    const podman = await startPodman(path.join(scratch, 'podman'), await exportBase(slipway.baseImage, slipway.services, path.join(scratch, 'base-layout')));
    try {
      const rows: string[][] = [];
      for (const [name, dockerfile] of Object.entries(DOCKERFILES)) {
        await writeFile(path.join(contextDir, 'Dockerfile'), dockerfile);
        // One build at a time, so the builders never compete for the CPUs.
        const [slipwayTimes, podmanTimes] = await measure([slipway.builder, podman], contextDir);
        rows.push(...formatRows(name, slipwayTimes!, podmanTimes!));
      }
      printTable(rows);
    } finally {
      await podman.remove();
    }
  } finally {
    await slipway.close();
  }
  await measureUpload(path.join(scratch, 'upload'));
} finally {
  await rm(scratch, { recursive: true, force: true });
}

interface Timings {
  cold: number;
  unchanged: number;
  changed: number;
}

/**
 * Warms both builders up, then runs RUNS rounds of cold, unchanged and one-file-changed
 * builds and returns each builder's medians in seconds. Within a round the builders take
 * turns at each kind of build, and the one that goes first alternates, so load from
 * elsewhere on the host falls on both alike.
 */
async function measure(builders: Builder[], contextDir: string): Promise<Timings[]> {
  for (const builder of builders) await builder.build(contextDir, true);
  const samples: Timings[][] = builders.map(() => []);
  for (let round = 0; round < RUNS; round += 1) {
    const order = round % 2 === 0 ? builders.map((_builder, index) => index) : builders.map((_builder, index) => builders.length - 1 - index);
    const sample: Partial<Timings>[] = builders.map(() => ({}));
    for (const index of order) sample[index]!.cold = await timed(() => builders[index]!.build(contextDir, true));
    for (const index of order) sample[index]!.unchanged = await timed(() => builders[index]!.build(contextDir, false));
    for (const index of order) {
      await writeFile(path.join(contextDir, 'src', 'module-7.js'), `export const revision = '${builders[index]!.name}-${round}';\n`);
      sample[index]!.changed = await timed(() => builders[index]!.build(contextDir, false));
    }
    sample.forEach((timings, index) => samples[index]!.push(timings as Timings));
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return samples.map((list) => ({
    cold: median(list.map((timings) => timings.cold)),
    unchanged: median(list.map((timings) => timings.unchanged)),
    changed: median(list.map((timings) => timings.changed)),
  }));
}

async function timed(action: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await action();
  return (performance.now() - started) / 1000;
}

function formatRows(dockerfile: string, slipway: Timings, podman: Timings): string[][] {
  const targets: Record<keyof Timings, number> = { cold: 1.0, unchanged: 0.5, changed: 1.0 };
  const labels: Record<keyof Timings, string> = { cold: 'cold, base image present', unchanged: 'rebuild, nothing changed', changed: 'rebuild, one file changed' };
  return (Object.keys(labels) as (keyof Timings)[]).map((key) => {
    const ratio = slipway[key] / podman[key];
    return [dockerfile, labels[key], `${slipway[key].toFixed(2)} s`, `${podman[key].toFixed(2)} s`, `${ratio.toFixed(2)}×`, `≤ ${targets[key].toFixed(1)}× ${ratio <= targets[key] ? 'met' : 'missed'}`];
  });
}

function printTable(rows: string[][]): void {
  const header = ['Dockerfile', 'build', 'Slipway', 'podman', 'ratio', 'target'];
  process.stdout.write(`| ${header.join(' | ')} |\n| ${header.map(() => '---').join(' | ')} |\n`);
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

/** Writes a context of 60 dependency files (about 1.2 MB) and 400 source files (about 1.6 MB). */
async function writeContext(dir: string): Promise<string> {
  await mkdir(path.join(dir, 'deps'), { recursive: true });
  await mkdir(path.join(dir, 'src', 'lib'), { recursive: true });
  for (let index = 0; index < 60; index += 1) await writeFile(path.join(dir, 'deps', `dep-${index}.txt`), randomBytes(10 * 1024).toString('hex'));
  for (let index = 0; index < 400; index += 1) {
    const folder = index % 2 === 0 ? 'src' : path.join('src', 'lib');
    await writeFile(path.join(dir, folder, `module-${index}.js`), `export const value${index} = '${randomBytes(2 * 1024).toString('hex')}';\n`);
  }
  return dir;
}

/** Opens Slipway's stores in a data folder of the bench's own and stores the busybox base image. */
async function startSlipwayBuilder(dataDir: string): Promise<{ builder: Builder; services: Services; baseImage: StoredImage; close(): Promise<void> }> {
  const config = { ...loadConfig({ SLIPWAY_DATA_DIR: dataDir }), bridgeName: `swbench${randomBytes(2).toString('hex')}`, bridgeSubnet: '10.246.7.0/24' };
  const services = await openServices(config);
  const network = new BridgeNetwork({ bridgeName: config.bridgeName, subnet: config.bridgeSubnet, stateDir: path.join(dataDir, 'network') });
  await network.setup();
  const layers = new LayerCache(path.join(dataDir, 'layers'), services.blobs);
  const runc = new Runc({ stateDir: path.join(dataDir, 'runc') });
  const log = createLogger('bench');

  const root = path.join(dataDir, 'base-root');
  await makeBusyboxRoot(root);
  const layerFile = path.join(dataDir, 'base.tar.gz');
  const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });
  await services.blobs.putFile(layerFile, { expectedDigest: layer.digest });
  const baseImage = await services.images.putImage(
    {
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      // buildah checks that the history names one entry per layer.
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'busybox root made by bench/build.ts' }],
    },
    [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
  );
  await services.images.tag(parseImageReference(BASE), baseImage.digest);

  let counter = 0;
  const builder: Builder = {
    name: 'slipway',
    async build(contextDir, noCache) {
      counter += 1;
      const buildId = `bench-${counter}`;
      const workDir = path.join(dataDir, 'work', buildId);
      const output = BuildOutput.inFolder(services.redis, buildId, path.join(dataDir, 'tmp'));
      try {
        const dockerfile = await readFile(path.join(contextDir, 'Dockerfile'), 'utf8');
        await buildImage(
          { buildId, contextDir, dockerfile, buildArgs: {}, noCache, cacheMountScope: 'bench', output },
          { config, db: services.database.db, blobs: services.blobs, images: services.images, layers, runc, network, workDir, log },
        );
      } finally {
        await output.finish('done', services.blobs);
        await rm(workDir, { recursive: true, force: true });
      }
    },
  };
  const close = async () => {
    await network.teardown();
    await services.close();
  };
  return { builder, services, baseImage, close };
}

/** Writes the base image as an OCI layout, the form skopeo copies into podman's storage. */
async function exportBase(image: StoredImage, services: Services, layoutDir: string): Promise<string> {
  await mkdir(path.join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const digests: Digest[] = [image.digest, image.manifest.config.digest, ...image.manifest.layers.map((layer) => layer.digest)];
  for (const digest of digests) await pipeline(await services.blobs.get(digest), createWriteStream(path.join(layoutDir, 'blobs', 'sha256', digestHex(digest))));
  const size = (await services.blobs.stat(image.digest))!.size;
  const manifests = [{ mediaType: MediaType.ociManifest, digest: image.digest, size, annotations: { 'org.opencontainers.image.ref.name': '1' } }];
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return layoutDir;
}

/** Returns podman with a storage of its own and the runc runtime, after copying the base image in from the layout. */
async function startPodman(dir: string, baseLayout: string): Promise<PodmanBuilder> {
  const storage = path.join(dir, 'storage');
  const runRoot = path.join(dir, 'run');
  const global = ['--root', storage, '--runroot', runRoot, '--runtime', 'runc', '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
  await execFileAsync('skopeo', ['--insecure-policy', 'copy', `oci:${baseLayout}:1`, `containers-storage:[overlay@${storage}+${runRoot}]${BASE}`]);
  return {
    name: 'podman',
    async build(contextDir, noCache) {
      await execFileAsync('podman', [...global, 'build', '--pull=never', '--layers', ...(noCache ? ['--no-cache'] : []), '-t', 'localhost/bench-app:latest', contextDir], { maxBuffer: 64 * 1024 * 1024 });
    },
    async remove() {
      await execFileAsync('podman', [...global, 'system', 'reset', '--force']);
    },
  };
}

/** Uploads an incompressible 256 MiB context to a fresh server's deploy endpoint and reports MB/s until the 202. */
async function measureUpload(dir: string): Promise<void> {
  const context = path.join(dir, 'context');
  await mkdir(context, { recursive: true });
  await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY small.txt /\n');
  await writeFile(path.join(context, 'small.txt'), 'small\n');
  await writeFile(path.join(context, '.dockerignore'), 'payload.bin\n');
  await writeFile(path.join(context, 'payload.bin'), randomBytes(256 * 1024 * 1024));
  const archive = path.join(dir, 'context.tar');
  await execFileAsync('tar', ['-cf', archive, '-C', context, '.']);
  const body = await readFile(archive);

  const server = await startSlipwayServer('bench-upload');
  try {
    await server.api('POST', '/v1/apps', { name: 'upload' });
    const samples: number[] = [];
    for (let round = 0; round < RUNS; round += 1) {
      const seconds = await timed(async () => {
        const response = await fetch(`http://127.0.0.1:${server.apiPort}/v1/apps/upload/deploys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/x-tar' },
          body,
        });
        if (response.status !== 202) throw new Error(`upload failed: HTTP ${response.status} ${await response.text()}`);
      });
      samples.push(body.length / 1e6 / seconds);
    }
    const median = samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
    process.stdout.write(`\ncontext upload through POST /v1/apps/:app/deploys: ${(body.length / 1e6).toFixed(0)} MB tar, median ${median.toFixed(0)} MB/s over ${RUNS} uploads\n`);
  } finally {
    await server.stop();
  }
}
