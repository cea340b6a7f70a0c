import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_USER } from '../../support/rootfs.ts';
import { BASE_FILE, BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers, entryNames } from './support/layer-entries.ts';

describe('builder RUN steps', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('run-steps');
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function expectNothingLeft(): Promise<void> {
    expect(await harness.leftovers()).toEqual({ containers: [], mounts: [], namespaces: [], cgroups: [] });
  }

  it('stores only the written file in the layer', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN mkdir /srv && echo made > /srv/out.txt\n` });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(image.manifest.layers).toHaveLength(2);
    expect(entryNames(layer!)).toEqual(['srv', 'srv/out.txt']);
    expect(layer!.find((entry) => entry.name === 'srv/out.txt')?.content).toBe('made\n');
  });

  it('drops mount points of network files', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN cat /etc/hosts /etc/hostname > /tmp/seen\n` });

    const [layer] = await addedLayers(harness.blobs, image);
    const names = entryNames(layer!);
    expect(names).toEqual(['tmp', 'tmp/seen']);
    expect(layer!.find((entry) => entry.name === 'tmp/seen')?.content).toContain('slipway-build');
  });

  it('drops mount points of /proc, /dev and /sys', async () => {
    const root = await harness.makeRoot('bare', async (dir) => {
      for (const folder of ['proc', 'dev', 'sys']) await rm(path.join(dir, folder), { recursive: true });
    });
    await harness.storeImage(root, 'slipway-test/busybox-bare:1');

    const { image } = await harness.buildOk({ dockerfile: 'FROM slipway-test/busybox-bare:1\nRUN ls /proc/self > /dev/null && echo ok > /ok.txt\n' });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['ok.txt']);
  });

  it('never follows a link the step put over a mount point folder', async () => {
    // In an image without /etc, runc creates /etc for the network files. The step swaps
    // it for an absolute link to a host folder, and removing the mount points afterwards
    // must not follow that link.
    const bait = path.join(harness.dir, 'bait');
    await mkdir(bait);
    await writeFile(path.join(bait, 'hosts'), '');
    const root = await harness.makeRoot('no-etc', async (dir) => {
      await rm(path.join(dir, 'etc'), { recursive: true });
    });
    await harness.storeImage(root, 'slipway-test/busybox-no-etc:1');

    const { image } = await harness.buildOk({ dockerfile: `FROM slipway-test/busybox-no-etc:1\nRUN mv /etc /etc.moved && ln -s ${bait} /etc\n` });

    expect(await readdir(bait)).toEqual(['hosts']);
    const [layer] = await addedLayers(harness.blobs, image);
    expect(layer!.find((entry) => entry.name === 'etc')).toMatchObject({ type: 'symlink', linkname: bait });
  });

  it('records a deleted base file as a whiteout', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN rm ${BASE_FILE}\n` });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['etc', 'etc/.wh.base-file.txt']);
  });

  it('adds no layer for a step that changes nothing', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN true\n` });

    expect(image.manifest.layers).toHaveLength(1);
    expect(image.config.history?.at(-1)).toMatchObject({ created_by: 'RUN /bin/sh -c true', empty_layer: true });
  });

  it('fails a command with its exit code, line and output', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nENV A=1\nRUN echo first line; echo broke >&2; exit 3\n` });

    expect(run.error?.code).toBe('BUILD_STEP_FAILED');
    expect(run.error?.details).toMatchObject({ line: 3, exitCode: 3, buildId: run.buildId });
    // stdout and stderr come through separate pipes, so only lines of one stream keep their order.
    expect(run.error?.message).toMatch(/^RUN echo first line; echo broke >&2; exit 3 \(line 3\) failed with exit code 3: /);
    expect(run.error?.message).toContain('first line');
    expect(run.error?.message).toContain('broke');
    expect(run.output).toContain('first line\n');
    await expectNothingLeft();
  });

  it('stops a step that runs past the time limit', async () => {
    harness.config.buildStepTimeoutMs = 2_000;
    try {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN sleep 60\n` });

      expect(run.error?.code).toBe('BUILD_STEP_TIMEOUT');
      expect(run.error?.message).toContain('step limit of 2 s');
      expect(run.error?.details).toMatchObject({ line: 2 });
    } finally {
      harness.config.buildStepTimeoutMs = 120_000;
    }
    await expectNothingLeft();
  });

  it('reports a step killed at the memory limit', async () => {
    harness.config.buildMemoryBytes = 32 * 1024 * 1024;
    try {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN head -c 200000000 /dev/zero | tr '\\0' x | sort > /dev/null\n` });

      expect(run.error?.code).toBe('BUILD_STEP_OUT_OF_MEMORY');
      expect(run.error?.message).toContain('build memory limit of 32 MiB');
      expect(run.error?.details).toMatchObject({ line: 2, exitCode: 137 });
    } finally {
      harness.config.buildMemoryBytes = 256 * 1024 * 1024;
    }
    await expectNothingLeft();
  });

  it('cancels a running step when the build is aborted', async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('user cancelled')), 1_500);

    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN sleep 60\n`, signal: controller.signal });
    clearTimeout(timer);

    expect(run.error?.code).toBe('BUILD_CANCELLED');
    await expectNothingLeft();
  });

  it('passes ARG and ENV to RUN', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nARG GREETING=hello\nENV TARGET=world\nRUN echo "$GREETING $TARGET" > /greeting.txt\n`;

    const { image } = await harness.buildOk({ dockerfile, buildArgs: { GREETING: 'hi' } });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(layer!.find((entry) => entry.name === 'greeting.txt')?.content).toBe('hi world\n');
    expect(image.config.config?.Env).toContain('TARGET=world');
    expect(image.config.config?.Env?.some((entry) => entry.startsWith('GREETING='))).toBe(false);
  });

  it('runs the command as the USER in effect', async () => {
    const { image, output } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nUSER app\nRUN id -u && touch /tmp/owned\n` });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(output).toContain(`${BUSYBOX_USER.uid}\n`);
    expect(layer!.find((entry) => entry.name === 'tmp/owned')).toMatchObject({ uid: BUSYBOX_USER.uid, gid: BUSYBOX_USER.gid });
    expect(image.config.config?.User).toBe('app');
  });

  it('streams the output under a numbered step header', async () => {
    const { output } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo streamed-line\n` });

    expect(output).toMatch(/#\d+ \[2\/2\] RUN echo streamed-line\nstreamed-line\n#\d+ DONE \d+\.\ds\n/);
  });
});
