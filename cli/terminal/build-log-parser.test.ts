import { describe, expect, it } from 'vitest';
import { BuildLogParser, type BuildEvent } from './build-log-parser.ts';

function parse(...chunks: string[]): BuildEvent[] {
  const parser = new BuildLogParser();
  return [...chunks.flatMap((chunk) => parser.push(chunk)), ...parser.end()];
}

describe('BuildLogParser', () => {
  it('reads a step from its header to DONE', () => {
    expect(parse('#3 [2/4] RUN make\nbuilding\n#3 DONE 1.2s\n')).toEqual([
      { type: 'step-start', id: 3, name: '[2/4] RUN make' },
      { type: 'output', step: 3, text: 'building' },
      { type: 'step-end', id: 3, status: 'done', seconds: 1.2 },
    ]);
  });

  it.each([
    ['#1 CACHED', { type: 'step-end', id: 1, status: 'cached', seconds: null }],
    ['#1 ERROR 0.4s', { type: 'step-end', id: 1, status: 'error', seconds: 0.4 }],
    ['#1 resolved docker.io/library/debian:bookworm', { type: 'output', step: 1, text: 'resolved docker.io/library/debian:bookworm' }],
  ])('reads %j after a header', (line, event) => {
    expect(parse('#1 [1/2] FROM debian\n', `${line}\n`)[1]).toEqual(event);
  });

  it('joins a line that arrives in two chunks', () => {
    expect(parse('#2 [1/1] COPY . /a', 'pp\n#2 DONE 0.1s\n')[0]).toEqual({ type: 'step-start', id: 2, name: '[1/1] COPY . /app' });
  });

  it('keeps the last state of a line redrawn with carriage returns', () => {
    expect(parse('#1 [1/1] RUN x\n 10%\r 50%\r100%\n')[1]).toEqual({ type: 'output', step: 1, text: '100%' });
  });

  it('attributes lines after a step ended to no step', () => {
    const events = parse('#1 [1/1] RUN x\n#1 ERROR 0.2s\nERROR: RUN x (line 2) failed with exit code 1\n');
    expect(events[2]).toEqual({ type: 'output', step: null, text: 'ERROR: RUN x (line 2) failed with exit code 1' });
  });

  it('parses a last line without a newline at the end', () => {
    expect(parse('Built image sha256:abc')).toEqual([{ type: 'output', step: null, text: 'Built image sha256:abc' }]);
  });
});
