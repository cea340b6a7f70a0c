import { execFile } from 'node:child_process';
import { closeSync, createWriteStream, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../shared/config.ts';
import { cgroupsLeft, createRuntimeFixture, mountsUnder, runCollecting, waitFor, type RuntimeFixture } from './runtime-fixture.ts';

const execFileAsync = promisify(execFile);

describe('Runc', () => {
  let fixture: RuntimeFixture;

  beforeAll(async () => {
    fixture = await createRuntimeFixture();
  });

  afterAll(async () => {
    await fixture.cleanup();
  });

  async function expectNothingLeft(id: string): Promise<void> {
    expect(await fixture.runc.state(id)).toBeNull();
    expect((await fixture.runc.list()).map((container) => container.id)).not.toContain(id);
    expect(await cgroupsLeft(`${fixture.cgroupParent}/${id}`)).toEqual([]);
    expect(await mountsUnder(fixture.rootfs)).toEqual([]);
  }

  it('returns the exit code and output of a command', async () => {
    const id = fixture.newId('hello');

    const result = await runCollecting(fixture, id, ['sh', '-c', 'echo to-stdout; echo to-stderr >&2']);

    expect(result).toEqual({ exitCode: 0, stdout: 'to-stdout\n', stderr: 'to-stderr\n' });
    await expectNothingLeft(id);
  });

  it('reports a non-zero exit code', async () => {
    const result = await runCollecting(fixture, fixture.newId('exit'), ['sh', '-c', 'exit 42']);

    expect(result.exitCode).toBe(42);
  });

  it('reports 128 plus the signal that ended the container', async () => {
    const id = fixture.newId('signal');
    const bundle = await fixture.bundle(id, ['sleep', '600']);

    const result = fixture.runc.run(id, bundle.dir, { timeoutMs: 60_000 });
    await waitFor('the container to run', async () => (await fixture.runc.state(id))?.status === 'running');
    await fixture.runc.kill(id, 'SIGKILL');

    await expect(result).resolves.toBe(137);
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('streams output while the container runs', async () => {
    // The container waits for a file that the test creates only after it has seen the first
    // line, so the run can only finish if output arrives before the container exits.
    const shared = path.join(fixture.dir, 'stream-shared');
    await mkdir(shared);
    const id = fixture.newId('stream');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'echo first; while [ ! -e /shared/go ]; do sleep 0.05; done; echo second'], {
      mounts: [{ source: shared, destination: '/shared', readOnly: false }],
    });
    await mkdir(path.join(fixture.rootfs, 'shared'), { recursive: true });

    let output = '';
    const exitCode = await fixture.runc.run(id, bundle.dir, {
      timeoutMs: 30_000,
      stdout: (chunk) => {
        output += chunk.toString('utf8');
        if (output === 'first\n') void writeFile(path.join(shared, 'go'), '');
      },
    });

    expect(exitCode).toBe(0);
    expect(output).toBe('first\nsecond\n');
  });

  it('writes output to a stream without ending it', async () => {
    const id = fixture.newId('writable');
    const bundle = await fixture.bundle(id, ['echo', 'into-a-file']);
    const outputPath = path.join(fixture.dir, 'writable-output.txt');
    const stream = createWriteStream(outputPath);

    await fixture.runc.run(id, bundle.dir, { stdout: stream, timeoutMs: 30_000 });
    expect(stream.writableEnded).toBe(false);
    await new Promise((resolve) => stream.end(resolve));

    await expect(readFile(outputPath, 'utf8')).resolves.toBe('into-a-file\n');
  });

  it('fails with runc output when the command does not exist', async () => {
    const id = fixture.newId('missing');

    const result = runCollecting(fixture, id, ['/no/such/program']);

    await expect(result).rejects.toMatchObject({ code: 'RUNC_FAILED', containerId: id });
    await expect(result).rejects.toThrow(/\/no\/such\/program.*no such file or directory/);
    await expectNothingLeft(id);
  });

  it('kills a run past its timeout and leaves nothing behind', async () => {
    const id = fixture.newId('timeout');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'sleep 600 & sleep 600']);

    const result = fixture.runc.run(id, bundle.dir, { timeoutMs: 500 });

    await expect(result).rejects.toMatchObject({ code: 'CONTAINER_TIMEOUT', kind: 'user' });
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('kills a run whose signal aborts and leaves nothing behind', async () => {
    const id = fixture.newId('abort');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'echo started; sleep 600']);
    const controller = new AbortController();

    const result = fixture.runc.run(id, bundle.dir, {
      signal: controller.signal,
      stdout: (chunk) => {
        if (chunk.toString('utf8').includes('started')) controller.abort(new Error('build cancelled'));
      },
    });

    await expect(result).rejects.toMatchObject({ code: 'CONTAINER_ABORTED' });
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('kills a run aborted while runc is still creating it', async () => {
    const id = fixture.newId('early-abort');
    const bundle = await fixture.bundle(id, ['sleep', '600']);
    const controller = new AbortController();

    const result = fixture.runc.run(id, bundle.dir, { signal: controller.signal });
    controller.abort();

    await expect(result).rejects.toMatchObject({ code: 'CONTAINER_ABORTED' });
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('does not start a run whose signal already aborted', async () => {
    const id = fixture.newId('pre-abort');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'touch /started']);

    const result = fixture.runc.run(id, bundle.dir, { signal: AbortSignal.abort() });

    await expect(result).rejects.toMatchObject({ code: 'CONTAINER_ABORTED' });
    await expect(readFile(path.join(fixture.rootfs, 'started'))).rejects.toMatchObject({ code: 'ENOENT' });
    await bundle.remove();
  });

  it('keeps a detached container running and logging after its starter exits', async () => {
    const id = fixture.newId('detached');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.05; done']);
    const logPath = path.join(fixture.dir, `${id}.log`);

    // A separate Node process starts the container and exits, as a runner restart would.
    const { stdout } = await execFileAsync(path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'), [
      fileURLToPath(new URL('./start-detached.ts', import.meta.url)),
      fixture.runc.stateDir,
      id,
      bundle.dir,
      logPath,
    ]);
    const pid = Number(stdout.trim());

    expect(pid).toBeGreaterThan(1);
    const state = await fixture.runc.state(id);
    expect(state).toMatchObject({ id, pid, status: 'running' });
    await waitFor('log lines after the starter exited', async () => countLines(await readFile(logPath, 'utf8')) >= 20);

    await fixture.runc.kill(id, 'SIGKILL');
    await waitFor('the container to stop', async () => (await fixture.runc.state(id))?.status === 'stopped');
    await fixture.runc.delete(id);

    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('writes a detached container output to the given descriptors', async () => {
    const id = fixture.newId('detached-fds');
    const bundle = await fixture.bundle(id, ['sh', '-c', 'echo out-line; echo err-line >&2; sleep 600']);
    const stdoutPath = path.join(fixture.dir, `${id}.out`);
    const stderrPath = path.join(fixture.dir, `${id}.err`);
    await writeFile(stdoutPath, 'existing\n');
    const stdoutFd = openSync(stdoutPath, 'a');
    const stderrFd = openSync(stderrPath, 'a');

    try {
      await fixture.runc.runDetached(id, bundle.dir, { stdoutFd, stderrFd });
    } finally {
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }
    await waitFor('both lines', async () => (await readFile(stderrPath, 'utf8').catch(() => '')) === 'err-line\n');

    await expect(readFile(stdoutPath, 'utf8')).resolves.toBe('existing\nout-line\n');
    expect((await fixture.runc.list()).map((container) => container.id)).toContain(id);
    await fixture.runc.delete(id, { force: true });
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('fails a detached start with runc output', async () => {
    const id = fixture.newId('detached-missing');
    const bundle = await fixture.bundle(id, ['/no/such/daemon']);
    const fd = openSync(path.join(fixture.dir, `${id}.log`), 'a');

    try {
      const result = fixture.runc.runDetached(id, bundle.dir, { stdoutFd: fd, stderrFd: fd });
      await expect(result).rejects.toMatchObject({ code: 'RUNC_FAILED', containerId: id });
      await expect(result).rejects.toThrow(/\/no\/such\/daemon/);
    } finally {
      closeSync(fd);
    }
    await expectNothingLeft(id);
    await bundle.remove();
  });

  it('returns null state for an unknown container', async () => {
    await expect(fixture.runc.state('no-such-container')).resolves.toBeNull();
  });

  it('names the container and runc output when kill fails', async () => {
    const result = fixture.runc.kill('no-such-container', 'SIGTERM');

    await expect(result).rejects.toMatchObject({ code: 'RUNC_FAILED', containerId: 'no-such-container' });
    await expect(result).rejects.toThrow(/no-such-container.*container does not exist/);
  });

  it('treats a forced delete of an unknown container as done', async () => {
    await expect(fixture.runc.delete('no-such-container', { force: true })).resolves.toBeUndefined();
  });

  it.each([['has/slash'], ['has space'], ['']])('rejects the container id %j', async (id) => {
    await expect(fixture.runc.state(id)).rejects.toMatchObject({ code: 'CONTAINER_ID_INVALID' });
  });
});

function countLines(text: string): number {
  return text.split('\n').filter(Boolean).length;
}
