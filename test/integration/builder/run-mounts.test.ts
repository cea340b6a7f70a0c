import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { readBlob } from '../../../shared/blobs/blob-store.ts';
import { buildCacheEntries } from '../../../shared/db/schema.ts';
import { BUSYBOX_IMAGE, BuilderHarness } from './support/builder-harness.ts';
import { addedLayers, entryNames } from './support/layer-entries.ts';

/** A secret that must never show up in a layer, the config, the output or a cache key. */
const SECRET = 'sw-secret-7c1f0e9a2b';

describe('builder RUN here-documents and mounts', () => {
  let harness: BuilderHarness;

  beforeAll(async () => {
    harness = await BuilderHarness.start('run-mounts');
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function expectNothingLeft(): Promise<void> {
    expect(await harness.leftovers()).toEqual({ containers: [], mounts: [], namespaces: [], cgroups: [] });
  }

  async function fileOf(image: Awaited<ReturnType<BuilderHarness['buildOk']>>['image'], name: string): Promise<string | undefined> {
    return (await addedLayers(harness.blobs, image)).flat().find((entry) => entry.name === name)?.content;
  }

  it('runs a here-document with the shell', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN <<EOF\necho one > /out.txt\necho two >> /out.txt\nEOF\n`;

    const { image } = await harness.buildOk({ dockerfile });

    expect(await fileOf(image, 'out.txt')).toBe('one\ntwo\n');
  });

  it('runs a #! here-document as a script', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN <<run.sh\n#!/bin/sh\necho "script $0" > /ran.txt\nrun.sh\n`;

    const { image } = await harness.buildOk({ dockerfile });

    expect(await fileOf(image, 'ran.txt')).toBe('script /dev/pipes/run.sh\n');
    expect(entryNames((await addedLayers(harness.blobs, image))[0]!)).toEqual(['ran.txt']);
  });

  it('lets the shell read a here-document with a quoted delimiter literally', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nENV WHO=world\nRUN cat <<'EOF' > /literal.txt && cat <<EOF2 > /expanded.txt\n$WHO\nEOF\n$WHO\nEOF2\n`;

    const { image } = await harness.buildOk({ dockerfile });

    expect(await fileOf(image, 'literal.txt')).toBe('$WHO\n');
    expect(await fileOf(image, 'expanded.txt')).toBe('world\n');
  });

  it('writes COPY here-documents as files with substituted variables', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE}`,
      'ARG GREETING=hello',
      'COPY <<motd <<-"raw.sh" /etc/app/',
      '$GREETING from "heredoc"',
      'motd',
      '\techo $GREETING',
      '\traw.sh',
      '',
    ].join('\n');

    const { image } = await harness.buildOk({ dockerfile, buildArgs: { GREETING: 'hi' } });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(layer!.find((entry) => entry.name === 'etc/app/motd')).toMatchObject({ content: 'hi from "heredoc"\n', mode: '644', uid: 0 });
    expect(layer!.find((entry) => entry.name === 'etc/app/raw.sh')?.content).toBe('echo $GREETING\n');
  });

  it('keeps a cache mount between builds', async () => {
    const dockerfile = (marker: string) =>
      `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=cache,target=/cache echo ${marker} >> /cache/log && cat /cache/log > /seen.txt\n`;

    await harness.buildOk({ dockerfile: dockerfile('first'), cacheMountScope: 'app-cache' });
    const { image } = await harness.buildOk({ dockerfile: dockerfile('second'), cacheMountScope: 'app-cache' });

    expect(await fileOf(image, 'seen.txt')).toBe('first\nsecond\n');
    expect(entryNames((await addedLayers(harness.blobs, image))[0]!)).toEqual(['seen.txt']);
  });

  it('gives another app its own cache mount', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=cache,id=shared-name,target=/cache ls /cache > /listing.txt; touch /cache/from-$(hostname)-$RANDOM\n`;

    await harness.buildOk({ dockerfile, cacheMountScope: 'app-one' });
    const { image } = await harness.buildOk({ dockerfile, cacheMountScope: 'app-two', noCache: true });

    expect(await fileOf(image, 'listing.txt')).toBe('');
  });

  it('creates a cache mount with its mode and owner', async () => {
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=cache,target=/c,uid=1000,gid=1000,mode=0750 stat -c "%a %u %g" /c > /stat.txt\n`;

    const { image } = await harness.buildOk({ dockerfile, cacheMountScope: 'app-owned' });

    expect(await fileOf(image, 'stat.txt')).toBe('750 1000 1000\n');
  });

  it('seeds a new cache mount from a folder of a stage', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS seed`,
      'RUN mkdir /seed && echo seeded > /seed/hello.txt',
      `FROM ${BUSYBOX_IMAGE}`,
      'RUN --mount=type=cache,target=/c,from=seed,source=/seed cat /c/hello.txt > /hello.txt',
      '',
    ].join('\n');

    const { image } = await harness.buildOk({ dockerfile, cacheMountScope: 'app-seeded' });

    expect(await fileOf(image, 'hello.txt')).toBe('seeded\n');
  });

  it('runs two builds with a locked cache one after the other', async () => {
    const dockerfile = (name: string) =>
      `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=cache,target=/c,sharing=locked ls /c > /before.txt; touch /c/${name}; sleep 1; ls /c > /after.txt\n`;

    const [first, second] = await Promise.all([
      harness.buildOk({ dockerfile: dockerfile('a'), cacheMountScope: 'app-locked' }),
      harness.buildOk({ dockerfile: dockerfile('b'), cacheMountScope: 'app-locked' }),
    ]);

    // Whichever ran second saw the other's file before it started. With a shared cache both could see none.
    const before = [await fileOf(first.image, 'before.txt'), await fileOf(second.image, 'before.txt')].sort();
    expect(before).toEqual(['', expect.stringMatching(/^[ab]\n$/)]);
  });

  it('gives concurrent builds their own folder of a private cache', async () => {
    // Both steps meet on a shared cache first, so they surely hold the private cache at the same time.
    const meet = 'touch /meet/$0; for i in $(seq 100); do [ -e /meet/a ] && [ -e /meet/b ] && break; sleep 0.2; done';
    const dockerfile = (name: string) =>
      `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=cache,target=/c,sharing=private --mount=type=cache,id=meet,target=/meet ["sh", "-c", "touch /c/${name}; ${meet}; ls /c > /after.txt", "${name}"]\n`;

    const [first, second] = await Promise.all([
      harness.buildOk({ dockerfile: dockerfile('a'), cacheMountScope: 'app-private' }),
      harness.buildOk({ dockerfile: dockerfile('b'), cacheMountScope: 'app-private' }),
    ]);

    expect([await fileOf(first.image, 'after.txt'), await fileOf(second.image, 'after.txt')]).toEqual(['a\n', 'b\n']);
  });

  it('bind-mounts the context read-only and keys the cache on its files', async () => {
    const contextDir = await harness.writeContext({ 'src/version.txt': 'v1\n' });
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=bind,source=src,target=/src cat /src/version.txt > /version.txt && (touch /src/new 2>/dev/null || echo read-only > /ro.txt)\n`;

    const first = await harness.buildOk({ dockerfile, contextDir });
    await writeFile(path.join(contextDir, 'src/version.txt'), 'v2\n');
    const second = await harness.buildOk({ dockerfile, contextDir });

    expect(await fileOf(first.image, 'version.txt')).toBe('v1\n');
    expect(await fileOf(first.image, 'ro.txt')).toBe('read-only\n');
    expect(await fileOf(second.image, 'version.txt')).toBe('v2\n');
    expect(entryNames((await addedLayers(harness.blobs, second.image))[0]!).sort()).toEqual(['ro.txt', 'version.txt']);
  });

  it('throws away what a step writes to a writable bind mount', async () => {
    const contextDir = await harness.writeContext({ 'data/keep.txt': 'keep\n' });
    const dockerfile = `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/keep.txt && echo new > /data/new.txt && ls /data > /listing.txt\n`;

    const { image } = await harness.buildOk({ dockerfile, contextDir });

    expect(await fileOf(image, 'listing.txt')).toBe('keep.txt\nnew.txt\n');
    expect(await readFile(path.join(contextDir, 'data/keep.txt'), 'utf8')).toBe('keep\n');
    expect(await readdir(path.join(contextDir, 'data'))).toEqual(['keep.txt']);
  });

  it('bind-mounts a folder of another stage', async () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE} AS build`,
      'RUN mkdir /out && echo built > /out/artifact',
      `FROM ${BUSYBOX_IMAGE}`,
      'RUN --mount=from=build,source=/out,target=/mnt/out cp /mnt/out/artifact /artifact',
      '',
    ].join('\n');

    const { image } = await harness.buildOk({ dockerfile });

    expect(await fileOf(image, 'artifact')).toBe('built\n');
  });

  it('keeps a tmpfs mount out of the layer', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=tmpfs,target=/scratch,size=1m echo x > /scratch/tmp && df /scratch | tail -1 > /df.txt\n` });

    const [layer] = await addedLayers(harness.blobs, image);
    expect(entryNames(layer!)).toEqual(['df.txt']);
    expect(layer![0]!.content).toMatch(/^tmpfs\s+1024\s/);
  });

  it('runs a step with --network=none on loopback only', async () => {
    const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /interfaces.txt\n` });

    expect(await fileOf(image, 'interfaces.txt')).toBe('lo\n');
    await expectNothingLeft();
  });

  describe('secrets', () => {
    const dockerfile = [
      `FROM ${BUSYBOX_IMAGE}`,
      'RUN --mount=type=secret,id=token,uid=1000,mode=0440 --mount=type=secret,id=token,env=TOKEN,target=/root/.token \\',
      '    stat -c "%a %u" /run/secrets/token > /stat.txt && cmp -s /run/secrets/token /root/.token && [ "$TOKEN" = "$(cat /run/secrets/token)" ] && echo ok > /ok.txt && echo "leak: $TOKEN"',
      '',
    ].join('\n');

    it('mounts a secret as a file and a variable for one step', async () => {
      const { image, output } = await harness.buildOk({ dockerfile, secrets: { token: SECRET } });

      expect(await fileOf(image, 'ok.txt')).toBe('ok\n');
      expect(await fileOf(image, 'stat.txt')).toBe('440 1000\n');
      expect(output).toContain('leak: ****');
    });

    it('leaves the secret out of layers, config, output and cache keys', async () => {
      const blobsBefore = new Set(await harness.blobDigests());
      const { image, output } = await harness.buildOk({ dockerfile, secrets: { token: SECRET }, noCache: true });

      expect(output).not.toContain(SECRET);
      const newBlobs = (await harness.blobDigests()).filter((digest) => !blobsBefore.has(digest));
      expect(newBlobs.length).toBeGreaterThan(0);
      for (const hex of newBlobs) {
        const data = await readBlob(harness.blobs, `sha256:${hex}`);
        const text = (data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data).toString('latin1');
        expect(text).not.toContain(SECRET);
      }
      expect(JSON.stringify(image.config)).not.toContain(SECRET);
      expect(JSON.stringify(await harness.database.db.select().from(buildCacheEntries))).not.toContain(SECRET);
      await expectNothingLeft();
    });

    it('keeps the cache when only the secret value changes, as BuildKit does', async () => {
      await harness.buildOk({ dockerfile, secrets: { token: SECRET } });
      const { output } = await harness.buildOk({ dockerfile, secrets: { token: `${SECRET}-rotated` } });

      expect(output).toMatch(/#\d+ CACHED/);
    });

    it('fails a step whose required secret was not given', async () => {
      const run = await harness.build({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=secret,id=npm,required true\n` });

      expect(run.error?.code).toBe('BUILD_SECRET_MISSING');
      expect(run.error?.details).toMatchObject({ line: 2, secret: 'npm' });
    });

    it('leaves out an optional secret that was not given', async () => {
      const { image } = await harness.buildOk({ dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN --mount=type=secret,id=npm test -e /run/secrets/npm || echo absent > /absent.txt\n` });

      expect(await fileOf(image, 'absent.txt')).toBe('absent\n');
    });
  });
});
