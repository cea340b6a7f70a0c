/**
 * Where the ingress sends each app's requests: the app's ready containers, each with
 * its count of requests in flight. A draining backend takes no new requests, and `drain`
 * resolves once its last request has finished.
 */
export interface Backend {
  machineId: string;
  host: string;
  port: number;
  inFlight: number;
  draining: boolean;
}

export class RouteTable {
  private readonly backends = new Map<string, Backend[]>();
  private readonly drainWaiters = new Map<Backend, (() => void)[]>();

  add(app: string, backend: Omit<Backend, 'inFlight' | 'draining'>): void {
    const list = this.backends.get(app) ?? [];
    list.push({ ...backend, inFlight: 0, draining: false });
    this.backends.set(app, list);
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
  }

  end(backend: Backend): void {
    backend.inFlight -= 1;
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
