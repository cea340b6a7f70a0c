/**
 * Measures, side by side in one run, how fast a stopped app responds and what the ingress
 * costs, for one small image (busybox httpd, which boots in a few milliseconds):
 *
 * - cold start: the app stopped and its image cached, a GET through the public URL until
 *   the first byte of the response arrives;
 * - the same image with `podman run` (runc as runtime, image loaded from an OCI archive,
 *   never pulled), until the first byte from its published port;
 * - raw `runc run --detach` of the very bundle the runner uses, until the first byte
 *   from the container's address;
 * - throughput and p99 latency with wrk, through the ingress and straight to the container,
 *   for the busybox app and for examples/flask-gunicorn (gunicorn with two workers).
 *
 *   node --import tsx bench/start.ts [rounds] [server-log-file]
 *
 * Needs root, runc, podman, skopeo and wrk (Debian packages), and the Debian mirror for the
 * first build of flask-gunicorn. Prints one line per figure and the ratios;
 * docs/benchmarks.md records the results.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ImageManifest } from '../shared/oci/image-types.ts';
import { MediaType } from '../shared/oci/media-types.ts';
import { writeLayer } from '../shared/layers/layer-writer.ts';
import { canConnect } from '../runner/health/health-probe.ts';
import { PROJECT_ROOT } from '../shared/config.ts';
import { writeBlob } from '../test/integration/images/support/oci-layout.ts';
import { makeBusyboxRoot } from '../test/support/rootfs.ts';
import { startSlipwayServer, type SlipwayServer } from '../test/support/slipway-server.ts';

const execFileAsync = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 15);
/** File for the server's own log at the end, for finding where time goes. */
const SERVER_LOG = process.argv[3];
const APP = 'bench';
/** The shell exits on SIGTERM so that every stop is quick; httpd alone as pid 1 ignores it. */
const CMD = ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait'];
/** podman's defaults ask for more open files and processes than this host allows (hard limit 20000 open files). */
const PODMAN_LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];

const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-bench-start-'));
const server = await startSlipwayServer('bench-start');
try {
  const layout = await writeImageLayout(path.join(scratch, 'layout'));
  await importImage(server, layout);
  await deployApp(server);
  const machine = await machineOf(server);

  const ours = await measureColdStarts(server);
  const raw = await measureRawRunc(server, machine);
  const podman = await measurePodman(layout);
  const load = await measureThroughput(server, APP, machine);
  const gunicorn = await measureThroughput(server, 'gunicorn', await deployGunicorn(server));

  report(ours, raw, podman);
  reportLoad('busybox httpd', load);
  reportLoad('flask-gunicorn', gunicorn);
} finally {
  if (SERVER_LOG) await writeFile(SERVER_LOG, server.output());
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}

interface Stats {
  median: number;
  p90: number;
  min: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p90: at(0.9), min: sorted[0]! };
}

/** Writes a busybox httpd image as an OCI layout, for the server (as a tar) and for skopeo and podman. */
async function writeImageLayout(layoutDir: string): Promise<string> {
  const root = path.join(scratch, 'root');
  await makeBusyboxRoot(root);
  await mkdir(path.join(root, 'www'), { recursive: true });
  await writeFile(path.join(root, 'www', 'index.html'), 'hello from busybox\n');
  const layerFile = path.join(scratch, 'layer.tar.gz');
  const layer = await writeLayer(root, layerFile, { overlay: false, sourceDateEpoch: 0 });

  const layerDescriptor = await writeBlob(layoutDir, await readFile(layerFile), MediaType.ociLayerGzip);
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: CMD, ExposedPorts: { '8080/tcp': {} } },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  };
  const configDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: [layerDescriptor] };
  const manifestDescriptor = await writeBlob(layoutDir, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(layoutDir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifestDescriptor, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }),
  );
  return layoutDir;
}

async function importImage(target: SlipwayServer, layoutDir: string): Promise<void> {
  const archive = path.join(scratch, 'layout.tar');
  await execFileAsync('tar', ['-C', layoutDir, '-cf', archive, '.']);
  const response = await fetch(`http://127.0.0.1:${target.apiPort}/v1/images/import?ref=bench/httpd:1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${target.token}` },
    body: await readFile(archive),
  });
  if (response.status !== 201) throw new Error(`image import failed: ${response.status} ${await response.text()}`);
}

async function deployApp(target: SlipwayServer): Promise<void> {
  const context = path.join(scratch, 'context');
  await mkdir(context, { recursive: true });
  await writeFile(path.join(context, 'Dockerfile'), 'FROM bench/httpd:1\n');
  for (const args of [['apps', 'create', APP], ['deploy', context, '--app', APP]]) {
    const result = await target.cli(args);
    if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed: ${result.stderr}`);
  }
  const scale = await target.api('PUT', `/v1/apps/${APP}/scale`, { idle_timeout_s: 1 });
  if (scale.status !== 200) throw new Error(`setting the idle timeout failed: ${await scale.text()}`);
}

interface MachineInfo {
  id: string;
  ipAddress: string;
  port: number;
  bundle: string;
}

/** Deploys examples/flask-gunicorn, which needs the debian:bookworm base image, and returns its running machine. */
async function deployGunicorn(target: SlipwayServer): Promise<MachineInfo> {
  for (const args of [['base-images'], ['apps', 'create', 'gunicorn'], ['deploy', path.join(PROJECT_ROOT, 'examples', 'flask-gunicorn'), '--app', 'gunicorn']]) {
    const result = await target.cli(args);
    if (result.code !== 0) throw new Error(`slipway ${args.join(' ')} failed: ${result.stderr}`);
  }
  return machineOf(target, 'gunicorn');
}

async function machineOf(target: SlipwayServer, app = APP): Promise<MachineInfo> {
  const status = await (await target.api('GET', `/v1/apps/${app}`)).json();
  const id = status.machines[0].id as string;
  const folder = path.join(target.dataDir, 'machines', id);
  const record = JSON.parse(await readFile(path.join(folder, 'machine.json'), 'utf8'));
  return { id, ipAddress: record.ipAddress, port: record.port, bundle: path.join(folder, 'bundle') };
}

async function waitUntilStopped(target: SlipwayServer): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt += 1) {
    const status = await (await target.api('GET', `/v1/apps/${APP}`)).json();
    if (status.machines.length > 0 && status.machines.every((machine: { status: string }) => machine.status === 'stopped')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the app did not stop within 60 s');
}

/** Returns the milliseconds from sending a GET (on a new connection) until the first byte of the response, or null when it failed. */
function timeToFirstByte(port: number, host: string, hostHeader?: string): Promise<number | null> {
  return new Promise((resolve) => {
    const started = performance.now();
    const request = http.get({ host, port, path: '/', agent: false, headers: hostHeader ? { host: hostHeader } : {} }, (response) => {
      const elapsed = performance.now() - started;
      response.resume();
      resolve(response.statusCode === 200 ? elapsed : null);
    });
    request.setTimeout(30_000, () => request.destroy());
    request.once('error', () => resolve(null));
  });
}

/**
 * Polls every millisecond until a GET gets a response, and returns the time from
 * `started` to its first byte. Each attempt connects with a 10 ms limit, because an
 * address that is not up yet gets no ARP reply and a plain connect would wait a second
 * for its SYN retry.
 */
async function pollFirstByte(started: number, port: number, host: string): Promise<number> {
  while (performance.now() - started < 30_000) {
    if ((await canConnect(host, port, 10)) && (await timeToFirstByte(port, host)) !== null) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`${host}:${port} sent no response within 30 s`);
}

async function measureColdStarts(target: SlipwayServer): Promise<Stats> {
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    await waitUntilStopped(target);
    const elapsed = await timeToFirstByte(target.httpPort, '127.0.0.1', `${APP}.localhost`);
    if (elapsed === null) throw new Error('a cold start through the ingress failed');
    samples.push(elapsed);
  }
  await waitUntilStopped(target);
  return stats(samples);
}

/** `runc run --detach` of the runner's own bundle (root mounted, network namespace kept) while the app is stopped. */
async function measureRawRunc(target: SlipwayServer, machine: MachineInfo): Promise<Stats> {
  const runcRoot = path.join(scratch, 'runc');
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    await waitUntilStopped(target);
    const id = `bench-raw-${round}`;
    const started = performance.now();
    const child = spawn('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', machine.bundle, id], { stdio: 'ignore' });
    try {
      samples.push(await pollFirstByte(started, machine.port, machine.ipAddress));
    } finally {
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
      await execFileAsync('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
    }
  }
  return stats(samples);
}

async function measurePodman(layoutDir: string): Promise<Stats> {
  const podman = [
    ...['--root', path.join(scratch, 'podman-root'), '--runroot', path.join(scratch, 'podman-run')],
    ...['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--network-backend', 'netavark'],
  ];
  const archive = path.join(scratch, 'image.oci.tar');
  await execFileAsync('skopeo', ['copy', `oci:${layoutDir}:bench`, `oci-archive:${archive}:localhost/bench-httpd:1`]);
  await execFileAsync('podman', [...podman, 'load', '-i', archive]);

  const samples: number[] = [];
  // netavark keeps its address leases outside podman's storage, so a crashed run can leave some behind.
  const subnetOctet = 100 + Math.floor(Math.random() * 150);
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      // A fixed address on podman's default network (10.88.0.0/16) is known before the
      // start, so the first byte is polled for from the container's address, as for runc.
      const address = `10.88.${subnetOctet}.${10 + round}`;
      const name = `bench-podman-${round}`;
      const started = performance.now();
      const run = execFileAsync('podman', [...podman, 'run', '--detach', '--rm', '--pull=never', '--name', name, ...PODMAN_LIMITS, '--ip', address, 'localhost/bench-httpd:1']);
      try {
        samples.push(await pollFirstByte(started, 8080, address));
      } finally {
        await run.catch((error) => process.stderr.write(`podman run failed: ${error}\n`));
        await execFileAsync('podman', [...podman, 'rm', '--force', '--time', '0', name]).catch(() => undefined);
      }
    }
  } finally {
    await execFileAsync('podman', [...podman, 'system', 'reset', '--force']).catch(() => undefined);
    // podman 4.3 leaves its storage's own mount in place after the reset.
    await execFileAsync('umount', [path.join(scratch, 'podman-root', 'overlay')]).catch(() => undefined);
  }
  return stats(samples);
}

interface WrkResult {
  requestsPerSecond: number;
  p99Ms: number;
}

async function wrk(url: string, hostHeader?: string): Promise<WrkResult> {
  const args = ['-t2', '-c16', '-d10s', '--latency', ...(hostHeader ? ['-H', `Host: ${hostHeader}`] : []), url];
  const { stdout } = await execFileAsync('wrk', args);
  const requestsPerSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  if (!p99 || !Number.isFinite(requestsPerSecond)) throw new Error(`wrk printed no figures:\n${stdout}`);
  if (/Non-2xx|Socket errors/.test(stdout)) process.stderr.write(`wrk ${url} saw errors:\n${stdout}\n`);
  const p99Ms = Number(p99[1]) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[p99[2]!]!;
  return { requestsPerSecond, p99Ms };
}

async function measureThroughput(target: SlipwayServer, app: string, machine: MachineInfo): Promise<{ proxied: WrkResult; direct: WrkResult }> {
  await target.api('PUT', `/v1/apps/${app}/scale`, { min: 1, idle_timeout_s: 300 });
  if ((await timeToFirstByte(target.httpPort, '127.0.0.1', `${app}.localhost`)) === null) throw new Error(`${app} did not start for the load test`);
  const namespace = `${target.env.SLIPWAY_BRIDGE_NAME}-${machine.id}`;
  const proxied = await wrk(`http://127.0.0.1:${target.httpPort}/`, `${app}.localhost`);
  process.stdout.write(`${app}: connections the container dropped (listen queue full) after the proxied run: ${await listenDrops(namespace)}\n`);
  const direct = await wrk(`http://${machine.ipAddress}:${machine.port}/`);
  process.stdout.write(`${app}: the same after the direct run: ${await listenDrops(namespace)}\n`);
  return { proxied, direct };
}

/** Reads the kernel's counters of connections dropped because the app's listen queue was full, in its network namespace. */
async function listenDrops(namespace: string): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', namespace, 'nstat', '-asz', 'TcpExtListenOverflows', 'TcpExtListenDrops']).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('TcpExt'))
    .map((line) => line.split(/\s+/).slice(0, 2).join(' '))
    .join(', ');
}

function report(ours: Stats, raw: Stats, podman: Stats): void {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const line = (label: string, value: Stats) => process.stdout.write(`${label}: median ${ms(value.median)}, p90 ${ms(value.p90)}, min ${ms(value.min)}\n`);
  process.stdout.write(`cold start to first byte, ${ROUNDS} rounds each\n`);
  line('  slipway (public URL, app stopped)', ours);
  line('  raw runc run of the same bundle', raw);
  line('  podman run of the same image', podman);
  process.stdout.write(`  slipway adds ${ms(ours.median - raw.median)} to raw runc (median); slipway / podman = ${(ours.median / podman.median).toFixed(2)}\n`);

}

function reportLoad(label: string, load: { proxied: WrkResult; direct: WrkResult }): void {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const { proxied, direct } = load;
  process.stdout.write(`wrk against ${label}, 2 threads, 16 connections, 10 s\n`);
  process.stdout.write(`  through the ingress: ${proxied.requestsPerSecond.toFixed(0)} requests/s, p99 ${ms(proxied.p99Ms)}\n`);
  process.stdout.write(`  straight to the container: ${direct.requestsPerSecond.toFixed(0)} requests/s, p99 ${ms(direct.p99Ms)}\n`);
  process.stdout.write(
    `  proxied / direct throughput = ${(proxied.requestsPerSecond / direct.requestsPerSecond).toFixed(2)}; added p99 ${ms(proxied.p99Ms - direct.p99Ms)}\n`,
  );
}
