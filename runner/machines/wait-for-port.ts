import { setTimeout as delay } from 'node:timers/promises';
import { canConnect } from '../health/health-probe.ts';

/**
 * Pause between connection attempts, in ms: 1 ms for the first second, so a fast app is
 * seen within a millisecond of listening, then 50 ms, so a slow one costs few attempts.
 */
const FAST_POLL_DELAY_MS = 1;
const FAST_POLL_FOR_MS = 1000;
const SLOW_POLL_DELAY_MS = 50;

/**
 * Resolves once a TCP connection to host:port succeeds; rejects after `timeoutMs` or as
 * soon as `hasExited` reports that the process is gone. A refused connection returns at
 * once on a local bridge, so the pauses between attempts decide how soon a start is seen.
 */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  hasExited: () => Promise<boolean>,
): Promise<void> {
  const startedAt = Date.now();
  const deadline = startedAt + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port, Math.max(1, Math.min(1000, deadline - Date.now())))) return;
    if (await hasExited()) throw new Error('the process exited before it accepted connections');
    await delay(Date.now() - startedAt < FAST_POLL_FOR_MS ? FAST_POLL_DELAY_MS : SLOW_POLL_DELAY_MS);
  }
  throw new Error(`nothing accepted connections on port ${port} within ${Math.round(timeoutMs / 1000)} s`);
}
