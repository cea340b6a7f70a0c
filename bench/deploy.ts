/**
 * Times the first deploy of examples/flask-hello on a fresh server (base image loaded,
 * no build cache) and a redeploy after a one-line change, through the real CLI.
 *
 *   node --import tsx bench/deploy.ts
 *
 * Needs root and the Debian mirror (the example's apt-get install). Prints one line per
 * measurement; docs/benchmarks.md records the results.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../shared/config.ts';
import { startSlipwayServer } from '../test/support/slipway-server.ts';

async function timed<T>(label: string, action: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await action();
  process.stdout.write(`${label}: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return result;
}

const server = await startSlipwayServer('bench');
const scratch = await mkdtemp(path.join(tmpdir(), 'slipway-bench-'));
try {
  await timed('base-images (debootstrap result cached in .cache/)', () => server.cli(['base-images']));
  await server.cli(['apps', 'create', 'hello']);

  const app = path.join(scratch, 'flask-hello');
  await cp(path.join(PROJECT_ROOT, 'examples', 'flask-hello'), app, { recursive: true });
  const first = await timed('first deploy of flask-hello', () => server.cli(['deploy', app, '--app', 'hello']));
  if (first.code !== 0) throw new Error(`first deploy failed: ${first.stderr}`);

  const source = path.join(app, 'app', 'app.py');
  await writeFile(source, (await readFile(source, 'utf8')).replace('"Hello World"', '"Hello again"'));
  const second = await timed('redeploy after a one-line change', () => server.cli(['deploy', app, '--app', 'hello']));
  if (second.code !== 0) throw new Error(`redeploy failed: ${second.stderr}`);

  const response = await server.get('hello', '/');
  process.stdout.write(`serving: ${response.status} ${response.body}\n`);
} finally {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
