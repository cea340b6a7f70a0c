/** BullMQ queue names. Runner queues carry the runner's id so a job reaches one host. */
export const BUILD_QUEUE = 'builds';

export function runnerQueueName(runnerId: string): string {
  return `runner-${runnerId}`;
}

/** Job payloads, one type per queue, shared by producers and consumers. */
export interface BuildJob {
  buildId: string;
  deployId: string;
}

export type RunnerJob =
  | { kind: 'release'; appId: string; releaseId: string; deployId?: string }
  | { kind: 'stop-app'; appId: string; appName: string }
  | { kind: 'restart-app'; appId: string };
