import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers } from './support/layer-entries.ts';

/** Waits up to 30 s on a shared cache mount for the file a step of another stage writes. */
function meetStep(own: string, other: string): string {
  return `RUN --mount=type=cache,id=meet,target=/meet touch /meet/${own} && for i in $(seq 150); do [ -e /meet/${other} ] && break; sleep 0.2; done && [ -e /meet/${other} ] && echo met > /${own}.txt`;
}

describe('builder parallel stages and limits', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('limits');
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function expectNothingLeft(): Promise<void> {
    expect(await harness.leftovers()).toEqual({ containers: [], mounts: [], namespaces: [], cgroups: [] });
  }

  it('builds independent stages at the same time', async () => {
    // Each stage waits for the other: built one after the other, the first would give up and fail.
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS left`,
      meetStep('left', 'right'),
      `FROM ${BUSYBOX_IMAGE} AS right`,
      meetStep('right', 'left'),
      `FROM ${BUSYBOX_IMAGE}`,
      'COPY --from=left /left.txt /',
      'COPY --from=right /right.txt /',
      '',
    ].join('\n');

    const { image, output } = await harness.buildOk({ dockerfile, cacheMountScope: 'app-parallel' });

    const names = (await addedLayers(harness.blobs, image)).flat().map((entry) => entry.name);
    expect(names).toEqual(['left.txt', 'right.txt']);
    expect(output).toMatch(/\[left 2\/2\] RUN/);
    expect(output).toMatch(/\[right 2\/2\] RUN/);
  });

  it('stops the other stages when one fails and reports the failure', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS slow`,
      'RUN sleep 600',
      `FROM ${BUSYBOX_IMAGE} AS broken`,
      'RUN echo broken on purpose; exit 3',
      `FROM ${BUSYBOX_IMAGE}`,
      'COPY --from=slow /etc/passwd /a',
      'COPY --from=broken /etc/passwd /b',
      '',
    ].join('\n');

    const run = await harness.build({ dockerfile });

    expect(run.error?.code).toBe('BUILD_STEP_FAILED');
    expect(run.error?.details).toMatchObject({ line: 4, exitCode: 3 });
    await expectNothingLeft();
  }, 60_000);

  it('names the pids limit when a step cannot fork', async () => {
    harness.config.buildPidsLimit = 32;
    try {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN for i in $(seq 100); do sleep 30 & done; wait\n` });

      expect(run.error?.code).toBe('BUILD_STEP_PIDS_LIMIT');
      expect(run.error?.message).toContain('build limit of 32 processes');
      expect(run.error?.details).toMatchObject({ line: 2 });
    } finally {
      harness.config.buildPidsLimit = 256;
    }
    await expectNothingLeft();
  });

  describe('disk limit', () => {
    beforeAll(() => {
      harness.diskLimitBytes = 32 * 1024 * 1024;
    });

    afterAll(() => {
      harness.diskLimitBytes = undefined;
    });

    it.each([
      ['one large file', 'RUN dd if=/dev/zero of=/big bs=1M count=64'],
      ['many files', 'RUN for i in $(seq 48); do dd if=/dev/zero of=/f$i bs=1M count=1 2>/dev/null; done; sleep 10'],
      ['two steps together', 'RUN dd if=/dev/zero of=/one bs=1M count=20\nRUN dd if=/dev/zero of=/two bs=1M count=20'],
    ])('stops a build that writes %s past the limit', async (_case, steps) => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\n${steps}\n` });

      expect(run.error?.code).toBe('BUILD_DISK_LIMIT');
      expect(run.error?.message).toContain('disk limit of 32 MiB');
      await expectNothingLeft();
    });

    it('stops a COPY past the limit', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY big.bin /\n`, files: { 'big.bin': { content: Buffer.alloc(40 * 1024 * 1024), mode: 0o644 } } });

      expect(run.error?.code).toBe('BUILD_DISK_LIMIT');
      expect(run.error?.details).toMatchObject({ line: 2 });
    });
  });

  it('names the line and column of a Dockerfile error', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\n  RUN --mount=type=volume,target=/x true\n` });

    expect(run.error?.code).toBe('DOCKERFILE_INVALID');
    expect(run.error?.details).toMatchObject({ line: 2, column: 3 });
    expect(run.error?.message).toMatch(/^Dockerfile line 2, column 3: /);
  });
});
