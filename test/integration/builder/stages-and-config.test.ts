import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/free-port.ts';
import { BUSYBOX_USER } from '../../support/rootfs.ts';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers, entryNames } from './support/layer-entries.ts';

const ARM_IMAGE = 'slipway-test/busybox-arm64:1';
const ONBUILD_IMAGE = 'slipway-test/busybox-onbuild:1';

describe('builder stages and image config', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('stages');
    const root = await harness.makeRoot('plain', async () => {});
    await harness.storeImage(root, ARM_IMAGE, { architecture: 'arm64' });
    const onbuildRoot = await harness.makeRoot('onbuild', async (dir) => {
      await writeFile(path.join(dir, 'etc', 'onbuild-base'), 'base\n');
    });
    await harness.storeImage(onbuildRoot, ONBUILD_IMAGE, {
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], OnBuild: ['RUN echo triggered > /triggered.txt'] },
    });
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('builds only the stages the target needs', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS broken`,
      'RUN echo this stage must not run; exit 1',
      `FROM ${BUSYBOX_IMAGE} AS deps`,
      'RUN echo deps > /deps.txt',
      'FROM deps AS app',
      'RUN echo app > /app.txt',
      `FROM ${BUSYBOX_IMAGE} AS unused`,
      'RUN exit 1',
      '',
    ].join('\n');

    const { image, output } = await harness.buildOk({ dockerfile, target: 'app' });

    const layers = await addedLayers(harness.blobs, image);
    expect(layers.map(entryNames)).toEqual([['deps.txt'], ['app.txt']]);
    expect(output).not.toContain('this stage must not run');
    expect(output).toMatch(/\[app 2\/2\] RUN echo app > \/app\.txt/);
  });

  it('creates the WORKDIR folder owned by the USER', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nUSER app\nWORKDIR /home/app/project/src\nRUN pwd > /tmp/pwd\n` });

    const [workdir, run] = await addedLayers(harness.blobs, image);
    const created = workdir!.filter((entry) => entry.name.startsWith('home/app/project'));
    expect(entryNames(workdir!)).toEqual(['home', 'home/app', 'home/app/project', 'home/app/project/src']);
    expect(created.map((entry) => [entry.uid, entry.gid, entry.mode])).toEqual([
      [BUSYBOX_USER.uid, BUSYBOX_USER.gid, '755'],
      [BUSYBOX_USER.uid, BUSYBOX_USER.gid, '755'],
    ]);
    expect(run!.find((entry) => entry.name === 'tmp/pwd')?.content).toBe('/home/app/project/src\n');
    expect(image.config.config?.WorkingDir).toBe('/home/app/project/src');
  });

  it('adds no layer for a WORKDIR that exists', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nWORKDIR /etc\n` });

    expect(image.manifest.layers).toHaveLength(1);
    expect(image.config.history?.at(-1)).toMatchObject({ created_by: 'WORKDIR /etc', empty_layer: true });
  });

  it('writes the config of the final stage', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE}`,
      'ARG VERSION=1.2',
      'ENV APP_HOME=/srv/app MODE=production',
      'LABEL org.example.version=$VERSION',
      'EXPOSE 5000 53/udp',
      'VOLUME /data',
      'USER app',
      'WORKDIR /srv/app',
      'STOPSIGNAL SIGQUIT',
      'ENTRYPOINT ["/bin/sh", "-c"]',
      'CMD ["echo $MODE"]',
      '',
    ].join('\n');

    const { image } = await harness.buildOk({ dockerfile });

    expect(image.config).toMatchObject({ architecture: 'amd64', os: 'linux' });
    expect(image.config.config).toEqual({
      Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'MODE=production'],
      Cmd: ['echo $MODE'],
      Entrypoint: ['/bin/sh', '-c'],
      Labels: { 'org.example.version': '1.2' },
      ExposedPorts: { '5000/tcp': {}, '53/udp': {} },
      Volumes: { '/data': {} },
      User: 'app',
      WorkingDir: '/srv/app',
      StopSignal: 'SIGQUIT',
    });
    expect(image.config.rootfs.diff_ids).toHaveLength(2);
    expect(image.manifest.layers.every((layer) => layer.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(true);
  });

  it('records one history entry per instruction after the base history', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nENV A=1\nRUN echo a > /a\nCMD ["sh"]\n` });

    expect(image.config.history?.map((entry) => [entry.created_by, entry.empty_layer ?? false])).toEqual([
      ['busybox root for tests', false],
      ['ENV A="1"', true],
      ['RUN /bin/sh -c echo a > /a', false],
      ['CMD ["sh"]', true],
    ]);
    const nonEmpty = image.config.history?.filter((entry) => !entry.empty_layer) ?? [];
    expect(nonEmpty).toHaveLength(image.config.rootfs.diff_ids.length);
  });

  it('runs the ONBUILD triggers of the base first', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${ONBUILD_IMAGE}\nRUN cat /triggered.txt > /seen.txt\n` });

    const [trigger, run] = await addedLayers(harness.blobs, image);
    expect(entryNames(trigger!)).toEqual(['triggered.txt']);
    expect(run!.find((entry) => entry.name === 'seen.txt')?.content).toBe('triggered\n');
    expect(image.config.config?.OnBuild).toBeUndefined();
  });

  it('builds FROM scratch from copied files', async () => {
    const { image } = await harness.buildOk({ dockerfile: 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello.txt"]\n', files: { 'hello.txt': 'hello\n' } });

    expect(image.manifest.layers).toHaveLength(1);
    expect(entryNames((await addedLayers(harness.blobs, image, 0))[0]!)).toEqual(['hello.txt']);
  });

  it('rejects a base image for another platform', async () => {
    const run = await harness.build({ dockerfile: `FROM ${ARM_IMAGE}\nRUN true\n` });

    expect(run.error?.code).toBe('IMAGE_PLATFORM_UNSUPPORTED');
    expect(run.error?.message).toContain('linux/arm64');
  });

  it('names a base image that is neither stored nor pullable', async () => {
    const reference = `127.0.0.1:${await freePort()}/slipway-test/missing:1`;

    const run = await harness.build({ dockerfile: `FROM ${reference}\nRUN true\n` });

    expect(run.error?.code).toBe('BASE_IMAGE_NOT_FOUND');
    expect(run.error?.details).toMatchObject({ line: 1, reference });
    expect(run.error?.message).toContain(`Base image ${reference} (line 1) is not in the image store`);
  });

  it('reports a Dockerfile error with its line', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN true\nBOGUS instruction\n` });

    expect(run.error?.details).toMatchObject({ line: 3 });
  });

  it('warns about a build arg that no ARG declares', async () => {
    const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\n`, buildArgs: { UNDECLARED: 'x' } });

    expect(run.result?.warnings).toEqual(['build args not declared by any ARG were ignored: UNDECLARED']);
  });
});
