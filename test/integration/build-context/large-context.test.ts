import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractContext } from '../../../shared/build-context/extract-context.ts';
import { inspectContextArchive } from '../../../shared/build-context/inspect-context.ts';
import { packContext } from '../../../shared/build-context/pack-context.ts';
import { createTempFolder, type TempFolder } from '../../../shared/build-context/testing/archive-fixtures.ts';

const MIB = 1024 * 1024;
/** Size of the test context: large enough that holding it in memory would show in the RSS. */
const CONTEXT_BYTES = 200 * MIB;

/** Runs `work` while sampling the resident set size, and returns how far it rose above the start. */
async function peakRssGrowth(work: () => Promise<void>): Promise<number> {
  globalThis.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, process.memoryUsage().rss) - start;
}

describe('a 200 MiB build context', () => {
  let temp: TempFolder;
  let project: string;
  let archive: string;

  beforeAll(async () => {
    temp = await createTempFolder('slipway-large-context-');
    project = path.join(temp.path, 'project');
    archive = path.join(temp.path, 'context.tar.gz');
    await mkdir(project);
    await writeFile(path.join(project, 'Dockerfile'), 'FROM debian\nCOPY . /app\n');
    // 1 MiB of random bytes repeated: gzip cannot shrink it (its window is 32 KiB), so the archive is as large as the folder.
    const block = randomBytes(MIB);
    const out = createWriteStream(path.join(project, 'data.bin'));
    for (let written = 0; written < CONTEXT_BYTES; written += MIB) {
      if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  });

  afterAll(async () => {
    await temp?.remove();
  });

  it('packs, inspects and extracts it without memory growing with its size', async ({ annotate }) => {
    const packGrowth = await peakRssGrowth(() => pipeline(packContext(project), createWriteStream(archive)));
    const archiveBytes = (await stat(archive)).size;

    let totalBytes = 0;
    const inspectGrowth = await peakRssGrowth(async () => {
      totalBytes = (await inspectContextArchive(archive)).totalBytes;
    });
    const target = path.join(temp.path, 'extracted');
    const extractGrowth = await peakRssGrowth(async () => {
      await extractContext(archive, target, { dockerignore: null });
    });

    await annotate(`archive ${Math.round(archiveBytes / MIB)} MiB; peak RSS growth: pack ${Math.round(packGrowth / MIB)} MiB, inspect ${Math.round(inspectGrowth / MIB)} MiB, extract ${Math.round(extractGrowth / MIB)} MiB`);
    expect(totalBytes).toBeGreaterThanOrEqual(CONTEXT_BYTES);
    expect((await stat(path.join(target, 'data.bin'))).size).toBe(CONTEXT_BYTES);
    // A smoke check, not a benchmark: well below the context's size means nothing held it whole.
    for (const growth of [packGrowth, inspectGrowth, extractGrowth]) expect(growth).toBeLessThan(CONTEXT_BYTES / 4);
  });
});
