import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isShifted, shiftOwnership, unshiftOwnership } from '../../../shared/container/id-shift.ts';
import { ShiftedLayerCache } from '../../../shared/container/shifted-layer-cache.ts';
import { PROJECT_ROOT } from '../../../shared/config.ts';
import { makeBusyboxRoot } from '../../support/rootfs.ts';
import { createRuntimeFixture, runCollecting, waitFor, type RuntimeFixture } from '../runtime/runtime-fixture.ts';

const execFileAsync = promisify(execFile);

const RANGE = { hostId: 1_300_000, size: 65_536 };
const DEBOOTSTRAP_TARBALL = path.join(PROJECT_ROOT, '.cache', 'base-images', 'debootstrap-bookworm-minbase-amd64.tar');

function statusField(status: string, field: string): string[] {
  const line = status.split('\n').find((candidate) => candidate.startsWith(`${field}:`)) ?? '';
  return line.slice(field.length + 1).trim().split(/\s+/);
}

describe('containers in a user namespace', () => {
  let fixture: RuntimeFixture;
  let shiftedRoot: string;
  let secret: string;

  beforeAll(async () => {
    fixture = await createRuntimeFixture();
    // runc mounts the root from inside the user namespace, so the mapped root must be able to reach it.
    await chmod(fixture.dir, 0o711);
    shiftedRoot = path.join(fixture.dir, 'shifted-rootfs');
    await makeBusyboxRoot(shiftedRoot);
    await shiftOwnership(shiftedRoot, RANGE);
    secret = path.join(fixture.dir, 'host-secret');
    await writeFile(secret, 'only host root may read this\n', { mode: 0o600 });
  });

  afterAll(async () => {
    await fixture?.cleanup();
  });

  it('runs as root inside and as the mapped id outside', async () => {
    const id = fixture.newId('userns');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'id -u > /tmp/inside; sleep 30'], { rootfs: shiftedRoot, userNamespace: RANGE });
    const run = fixture.runc.run(id, bundle.dir, { timeoutMs: 60_000 }).catch(() => -1);
    try {
      await waitFor('the container to start', async () => (await fixture.runc.state(id))?.status === 'running');
      const pid = (await fixture.runc.state(id))!.pid;
      await waitFor('the id inside', async () => (await readFile(path.join(shiftedRoot, 'tmp', 'inside'), 'utf8').catch(() => '')) !== '');

      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      expect((await readFile(path.join(shiftedRoot, 'tmp', 'inside'), 'utf8')).trim()).toBe('0');
      expect(statusField(status, 'Uid')).toEqual(Array(4).fill(String(RANGE.hostId)));
      expect(statusField(status, 'Gid')).toEqual(Array(4).fill(String(RANGE.hostId)));
      expect((await stat(path.join(shiftedRoot, 'tmp', 'inside'))).uid).toBe(RANGE.hostId);
    } finally {
      await fixture.runc.kill(id, 'SIGKILL').catch(() => undefined);
      await run;
    }
  });

  it('shows the mapping in /proc/self/uid_map', async () => {
    const result = await runCollecting(fixture, fixture.newId('uidmap'), ['cat', '/proc/self/uid_map'], { rootfs: shiftedRoot, userNamespace: RANGE });

    expect(result.stdout.trim().split(/\s+/)).toEqual(['0', String(RANGE.hostId), String(RANGE.size)]);
  });

  it('keeps a host file of real root unreadable for root inside', async () => {
    const result = await runCollecting(fixture, fixture.newId('secret'), ['cat', '/secret'], {
      rootfs: shiftedRoot,
      userNamespace: RANGE,
      mounts: [{ source: secret, destination: '/secret', readOnly: true }],
    });

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Permission denied/);
  });

  // Root outside a user namespace reads the same file, so the namespace is what stops it above.
  it('lets plain root read the secret', async () => {
    const result = await runCollecting(fixture, fixture.newId('secret-plain'), ['cat', '/secret'], {
      mounts: [{ source: secret, destination: '/secret', readOnly: true }],
    });

    expect(result.stdout).toBe('only host root may read this\n');
  });

  it('still rejects unshare inside the user namespace', async () => {
    const result = await runCollecting(fixture, fixture.newId('userns-unshare'), ['unshare', '-U', 'true'], { rootfs: shiftedRoot, userNamespace: RANGE });

    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Operation not permitted/);
  });
});

describe('shiftOwnership', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'slipway-id-shift-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('moves owners into the range and back, keeping setuid bits and link targets', async () => {
    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'bin'), { recursive: true });
    await writeFile(path.join(tree, 'bin', 'su'), 'x');
    await chmod(path.join(tree, 'bin', 'su'), 0o4755);
    await writeFile(path.join(tree, 'owned'), 'x');
    await chown(path.join(tree, 'owned'), 1000, 1000);
    await symlink('/does/not/exist', path.join(tree, 'dangling'));

    const shifted = await shiftOwnership(tree, RANGE);

    expect(shifted).toEqual({ entries: 5, unmapped: 0 });
    expect((await stat(path.join(tree, 'bin', 'su'))).mode & 0o7777).toBe(0o4755);
    expect((await stat(path.join(tree, 'bin', 'su'))).uid).toBe(RANGE.hostId);
    expect((await stat(path.join(tree, 'owned'))).uid).toBe(RANGE.hostId + 1000);
    expect((await lstat(path.join(tree, 'dangling'))).uid).toBe(RANGE.hostId);
    expect(await isShifted(tree, RANGE)).toBe(true);

    await unshiftOwnership(tree, RANGE);

    expect((await stat(path.join(tree, 'owned'))).gid).toBe(1000);
    expect((await stat(path.join(tree, 'bin', 'su'))).mode & 0o7777).toBe(0o4755);
    expect(await isShifted(tree, RANGE)).toBe(false);
  });

  it('leaves ids outside the range as they are and counts them', async () => {
    const tree = path.join(dir, 'outside');
    await mkdir(tree);
    await writeFile(path.join(tree, 'far'), 'x');
    await chown(path.join(tree, 'far'), 70_000, 70_000);

    const shifted = await shiftOwnership(tree, RANGE);

    expect(shifted.unmapped).toBe(1);
    expect((await stat(path.join(tree, 'far'))).uid).toBe(70_000);
  });

  it('keeps overlay whiteouts and opaque markers in a shifted layer copy', async () => {
    const layer = path.join(dir, 'layers', 'abc123');
    await mkdir(path.join(layer, 'etc', 'opaque'), { recursive: true });
    await execFileAsync('mknod', [path.join(layer, 'etc', 'removed'), 'c', '0', '0']);
    await execFileAsync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(layer, 'etc', 'opaque')]);
    const cache = new ShiftedLayerCache(path.join(dir, 'shifted'), RANGE);

    const [copy] = await cache.ensureLayers([layer]);

    const whiteout = await lstat(path.join(copy!, 'etc', 'removed'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(whiteout.uid).toBe(RANGE.hostId);
    const opaque = await execFileAsync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(copy!, 'etc', 'opaque')]);
    expect(opaque.stdout).toBe('y');
    expect((await lstat(layer)).uid).toBe(0);
    expect(await cache.ensureLayer(layer)).toBe(copy);
  });

  it.skipIf(process.env.SLIPWAY_SKIP_DEBOOTSTRAP === '1')('measures shifting a Debian minbase root', async () => {
    const root = path.join(dir, 'debian');
    await mkdir(root);
    const tarball = await stat(DEBOOTSTRAP_TARBALL).catch(() => null);
    if (!tarball) return;
    await execFileAsync('tar', ['-C', root, '-xf', DEBOOTSTRAP_TARBALL]);

    const started = performance.now();
    const shifted = await shiftOwnership(root, RANGE);
    const elapsedMs = performance.now() - started;

    process.stdout.write(`shifted ${shifted.entries} entries of a Debian minbase root in ${elapsedMs.toFixed(0)} ms\n`);
    expect(shifted.entries).toBeGreaterThan(1000);
    expect((await stat(path.join(root, 'usr', 'bin'))).uid).toBe(RANGE.hostId);
  });
});
