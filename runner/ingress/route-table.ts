/**
 * Where the ingress sends each app's requests: the app's ready containers, each with
 * its count of requests in flight (an upgraded connection, such as a WebSocket, counts as
 * one request for as long as it is open). A draining backend takes no new requests, and
 * `drain` resolves once its last request has finished.
 */
export interface Backend {
  machineId: string;
  host: string;
  port: number;
  inFlight: number;
  draining: boolean;
  /** When a request to it last began or ended, or when it was added, in ms since the epoch. */
  lastActiveAt: number;
}

export class RouteTable {
  private readonly backends = new Map<string, Backend[]>();
  private readonly drainWaiters = new Map<Backend, (() => void)[]>();
  /** Open client connections per app: a connection counts for an app once it has carried a request for it. */
  private readonly connections = new Map<string, number>();

  add(app: string, backend: Omit<Backend, 'inFlight' | 'draining' | 'lastActiveAt'>): void {
    const list = this.backends.get(app) ?? [];
    list.push({ ...backend, inFlight: 0, draining: false, lastActiveAt: Date.now() });
    this.backends.set(app, list);
  }

  /** Returns the app's backends that take requests. */
  ready(app: string): Backend[] {
    return (this.backends.get(app) ?? []).filter((backend) => !backend.draining);
  }

  backendOf(app: string, machineId: string): Backend | undefined {
    return (this.backends.get(app) ?? []).find((backend) => backend.machineId === machineId);
  }

  /** Checks whether the app has ready backends and each has at least `limit` requests in flight. */
  isSaturated(app: string, limit: number): boolean {
    const ready = this.ready(app);
    return ready.length > 0 && ready.every((backend) => backend.inFlight >= limit);
  }

  openConnection(app: string): void {
    this.connections.set(app, (this.connections.get(app) ?? 0) + 1);
  }

  closeConnection(app: string): void {
    const open = (this.connections.get(app) ?? 1) - 1;
    if (open > 0) this.connections.set(app, open);
    else this.connections.delete(app);
  }

  openConnections(app: string): number {
    return this.connections.get(app) ?? 0;
  }

  /** Returns the ready backend with the fewest requests in flight, or undefined when there is none. */
  pick(app: string): Backend | undefined {
    let best: Backend | undefined;
    for (const backend of this.backends.get(app) ?? []) {
      if (backend.draining) continue;
      if (!best || backend.inFlight < best.inFlight) best = backend;
    }
    return best;
  }

  hasApp(app: string): boolean {
    return (this.backends.get(app) ?? []).some((backend) => !backend.draining);
  }

  begin(backend: Backend): void {
    backend.inFlight += 1;
    backend.lastActiveAt = Date.now();
  }

  end(backend: Backend): void {
    backend.inFlight -= 1;
    backend.lastActiveAt = Date.now();
    if (backend.inFlight === 0 && backend.draining) this.notifyDrained(backend);
  }

  /**
   * Stops sending new requests to a machine's backend and resolves once the requests
   * it is serving have finished, or after `timeoutMs`. The backend is then removed.
   */
  async drain(app: string, machineId: string, timeoutMs: number): Promise<void> {
    const list = this.backends.get(app) ?? [];
    const backend = list.find((candidate) => candidate.machineId === machineId);
    if (!backend) return;

    backend.draining = true;
    if (backend.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        const waiters = this.drainWaiters.get(backend) ?? [];
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
        this.drainWaiters.set(backend, waiters);
      });
    }
    this.remove(app, machineId);
  }

  /** Removes a backend at once, for a container that has exited. */
  remove(app: string, machineId: string): void {
    const list = (this.backends.get(app) ?? []).filter((backend) => backend.machineId !== machineId);
    if (list.length > 0) this.backends.set(app, list);
    else this.backends.delete(app);
  }

  removeApp(app: string): void {
    this.backends.delete(app);
  }

  private notifyDrained(backend: Backend): void {
    for (const waiter of this.drainWaiters.get(backend) ?? []) waiter();
    this.drainWaiters.delete(backend);
  }
}
