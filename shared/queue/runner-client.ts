import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { and, desc, eq, gt, inArray } from 'drizzle-orm';
import type { Database } from '../db/database.ts';
import { machines, runners } from '../db/schema.ts';
import { SystemError } from '../errors.ts';
import { runnerQueueName, type RunnerJob } from './queue-names.ts';

/** A runner that has not sent a heartbeat for this long is not given new work. */
export const RUNNER_STALE_AFTER_MS = 30_000;

/**
 * Sends jobs to runner hosts. Each runner consumes a queue of its own, so a job about
 * an app reaches the host that runs it.
 */
export class RunnerClient {
  private readonly queues = new Map<string, Queue<RunnerJob>>();
  private readonly events = new Map<string, QueueEvents>();

  constructor(
    private readonly db: Database,
    private readonly connection: ConnectionOptions,
  ) {}

  /** Returns the runner that already runs the app, else the runner seen most recently. */
  async pickRunner(appId: string): Promise<string> {
    const fresh = new Date(Date.now() - RUNNER_STALE_AFTER_MS);
    const [current] = await this.db
      .select({ runnerId: machines.runnerId })
      .from(machines)
      .innerJoin(runners, eq(runners.id, machines.runnerId))
      .where(and(eq(machines.appId, appId), inArray(machines.status, ['starting', 'running']), gt(runners.lastSeenAt, fresh)))
      .limit(1);
    if (current) return current.runnerId;

    // TODO: place apps by free memory, and keep an app with a volume on the volume's host.
    // With one runner per install, the most recently seen runner is the only choice.
    const [newest] = await this.db.select().from(runners).where(gt(runners.lastSeenAt, fresh)).orderBy(desc(runners.lastSeenAt)).limit(1);
    if (!newest) {
      throw new SystemError('NO_RUNNER_AVAILABLE', 'No runner has sent a heartbeat in the last 30 s: start one with "slipway server" (role runner).', {
        status: 503,
      });
    }
    return newest.id;
  }

  /** Runners that hold machines of an app, in any state. */
  async runnersOfApp(appId: string): Promise<string[]> {
    const rows = await this.db.selectDistinct({ runnerId: machines.runnerId }).from(machines).where(eq(machines.appId, appId));
    return rows.map((row) => row.runnerId);
  }

  async send(runnerId: string, job: RunnerJob): Promise<string> {
    const added = await this.queue(runnerId).add(job.kind, job, { removeOnComplete: 1000, removeOnFail: 1000 });
    return added.id!;
  }

  /** Sends a job and waits for its result; rejects with the runner's error or after `timeoutMs`. */
  async call(runnerId: string, job: RunnerJob, timeoutMs: number): Promise<unknown> {
    const events = this.queueEvents(runnerId);
    await events.waitUntilReady();
    const added = await this.queue(runnerId).add(job.kind, job, { removeOnComplete: 1000, removeOnFail: 1000 });
    return added.waitUntilFinished(events, timeoutMs);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    await Promise.all([...this.events.values()].map((events) => events.close()));
  }

  private queue(runnerId: string): Queue<RunnerJob> {
    const name = runnerQueueName(runnerId);
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<RunnerJob>(name, { connection: this.connection });
      this.queues.set(name, queue);
    }
    return queue;
  }

  private queueEvents(runnerId: string): QueueEvents {
    const name = runnerQueueName(runnerId);
    let events = this.events.get(name);
    if (!events) {
      events = new QueueEvents(name, { connection: this.connection });
      this.events.set(name, events);
    }
    return events;
  }
}
