import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Resolves once a TCP connection to host:port succeeds; rejects after `timeoutMs` or as
 * soon as `hasExited` reports that the process is gone. Accepting a connection is the
 * readiness signal until the app declares a health check.
 */
export async function waitForPort(
  host: string,
  port: number,
  timeoutMs: number,
  hasExited: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(host, port, Math.min(1000, deadline - Date.now()))) return;
    if (await hasExited()) throw new Error('the process exited before it accepted connections');
    await delay(50);
  }
  throw new Error(`nothing accepted connections on port ${port} within ${Math.round(timeoutMs / 1000)} s`);
}

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (connected: boolean) => {
      socket.destroy();
      resolve(connected);
    };
    socket.setTimeout(Math.max(timeoutMs, 1), () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
