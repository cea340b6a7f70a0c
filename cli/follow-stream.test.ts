import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client.ts';
import { followStream } from './follow-stream.ts';

let server: http.Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/**
 * Serves one reply per request, in order, on loopback. A reply that breaks off writes its
 * text and then destroys the connection, as a timed-out or dropped response does.
 */
async function serve(replies: { text: string; breakOff: boolean }[]): Promise<{ client: ApiClient; paths: string[] }> {
  const paths: string[] = [];
  server = http.createServer((request, response) => {
    paths.push(request.url ?? '');
    const reply = replies[paths.length - 1]!;
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write(reply.text, () => {
      if (reply.breakOff) setTimeout(() => response.destroy(), 20);
      else response.end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { client: new ApiClient(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`, 'swt_test'), paths };
}

describe('followStream', () => {
  it('skips what it passed on when a replayed stream breaks off', async () => {
    const { client, paths } = await serve([
      { text: '#1 [1/2] FROM x\n', breakOff: true },
      { text: '#1 [1/2] FROM x\n#1 DONE 0.1s\n', breakOff: false },
    ]);
    let received = '';
    await followStream(client, '/build-log', (chunk) => (received += chunk.toString()), 'skip-seen');

    expect(received).toBe('#1 [1/2] FROM x\n#1 DONE 0.1s\n');
    expect(paths).toEqual(['/build-log', '/build-log']);
  });

  it('continues from the path the resume function gives', async () => {
    const { client, paths } = await serve([
      { text: 'first\n', breakOff: true },
      { text: 'second\n', breakOff: false },
    ]);
    let received = '';
    await followStream(client, '/app-log', (chunk) => (received += chunk.toString()), () => '/app-log?since=later');

    expect(received).toBe('first\nsecond\n');
    expect(paths).toEqual(['/app-log', '/app-log?since=later']);
  });
});
