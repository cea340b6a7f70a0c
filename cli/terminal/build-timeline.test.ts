import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BuildTimeline } from './build-timeline.ts';
import type { Output } from './terminal.ts';

const BUILD = [
  '#1 [1/3] FROM debian:bookworm\n',
  '#1 DONE 0.0s\n',
  '#2 [2/3] COPY . /app\n',
  '#2 CACHED\n',
  '#3 [3/3] RUN make\n',
  'compiling\n',
  '#3 DONE 2.5s\n',
  'Built image sha256:abc\n',
];

/** Makes an output that records what is written; `live` makes it behave as a terminal 80 columns wide. */
function recorder(mode: 'plain' | 'json' | 'live'): { output: Output; text(): string } {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        text += chunk.toString();
        callback();
      },
    }),
    { isTTY: mode === 'live', columns: 80 },
  );
  return { output: { stream, live: mode === 'live', json: mode === 'json', color: false }, text: () => text };
}

function run(mode: 'plain' | 'json' | 'live', chunks: string[], succeeded = true): string {
  const { output, text } = recorder(mode);
  const timeline = new BuildTimeline(output);
  for (const chunk of chunks) timeline.write(chunk);
  timeline.finish(succeeded);
  return text();
}

describe('BuildTimeline', () => {
  it('passes the output on unchanged without a terminal, then a summary', () => {
    const text = run('plain', BUILD);
    expect(text.startsWith(BUILD.join(''))).toBe(true);
    expect(text).toMatch(/Build finished in \d+\.\ds: 3 steps, 1 cached\n$/);
  });

  it('writes one JSON object per step end and output line with --json', () => {
    const events = run('json', BUILD)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(events.filter((event) => event.type === 'step')).toEqual([
      { type: 'step', id: 1, name: '[1/3] FROM debian:bookworm', status: 'done', seconds: 0 },
      { type: 'step', id: 2, name: '[2/3] COPY . /app', status: 'cached', seconds: null },
      { type: 'step', id: 3, name: '[3/3] RUN make', status: 'done', seconds: 2.5 },
    ]);
    expect(events).toContainEqual({ type: 'log', step: 3, text: 'compiling' });
    expect(events.at(-1)).toMatchObject({ type: 'build', status: 'succeeded', steps: 3, cached: 1 });
  });

  it('leaves one line per step on a terminal, with its time or CACHED', () => {
    const text = run('live', BUILD);
    expect(text).toMatch(/✔ \[1\/3\] FROM debian:bookworm +0\.0s\n/);
    expect(text).toMatch(/✔ \[2\/3\] COPY \. \/app +CACHED\n/);
    expect(text).toMatch(/✔ \[3\/3\] RUN make +2\.5s\n/);
    expect(text).toContain('Built image sha256:abc\n');
  });

  it('keeps the last lines of a failed step on a terminal', () => {
    const text = run('live', ['#1 [1/1] RUN make\n', 'first\n', 'second\n', '#1 ERROR 0.3s\n', 'ERROR: RUN make failed\n'], false);
    expect(text).toMatch(/✘ \[1\/1\] RUN make +0\.3s\n {4}│ first\n {4}│ second\n/);
    expect(text).toMatch(/Build failed in \d+\.\ds: 1 steps, 0 cached\n$/);
  });

  it('cuts a step name to the terminal width', () => {
    const text = run('live', [`#1 [1/1] RUN ${'x'.repeat(200)}\n`, '#1 DONE 1.0s\n']);
    // Without the cursor movements of the live view, each drawn line is separate.
    const lines = text.replace(/\x1b\[\d*[A-Za-z]/g, '').split(/[\r\n]+/);
    const line = lines.find((candidate) => candidate.startsWith('✔'))!;
    expect([...line].length).toBeLessThanOrEqual(80);
    expect(line).toContain('…');
  });
});
