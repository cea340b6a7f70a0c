import { setTimeout as delay } from 'node:timers/promises';
import { SystemError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/logger.ts';
import { waitForPort } from '../machines/wait-for-port.ts';
import type { HealthCheck } from './health-check.ts';
import { runProbe, type ProbeResult, type ProbeTarget } from './health-probe.ts';

/** A container that did not become healthy in time, or failed its probes `retries` times in a row. */
export class UnhealthyError extends SystemError {
  constructor(message: string, details: Record<string, unknown>) {
    super('MACHINE_UNHEALTHY', message, { details });
  }
}

/**
 * Runs a container's health check with Docker's rules: probes during the start period do
 * not count against it, it is healthy after the first probe that passes, and unhealthy
 * after `retries` failed probes in a row. `waitUntilHealthy` gates a start; `watch` keeps
 * probing a running container and reports when it turns unhealthy.
 */
export class HealthMonitor {
  private watching: AbortController | undefined;
  lastResult: ProbeResult | undefined;

  constructor(
    readonly check: HealthCheck,
    private readonly target: ProbeTarget,
    private readonly hasExited: () => Promise<boolean>,
    private readonly log: Logger,
  ) {}

  /**
   * Resolves once the port accepts connections and, for an `http` or `exec` check, a probe
   * passes. Rejects when the process exits, when the check fails `retries` times in a row
   * after the start period, or when `timeoutMs` (counted after the start period) runs out.
   */
  async waitUntilHealthy(timeoutMs: number): Promise<void> {
    const startedAt = Date.now();
    const deadline = startedAt + this.check.startPeriodMs + timeoutMs;
    await waitForPort(this.target.host, this.target.port, deadline - startedAt, this.hasExited);
    if (this.check.probe.kind === 'tcp') return;

    let failures = 0;
    while (Date.now() < deadline) {
      const result = await this.probe();
      if (result.healthy) return;
      if (await this.hasExited()) throw new Error('the process exited before its health check passed');

      const inStartPeriod = Date.now() - startedAt < this.check.startPeriodMs;
      if (!inStartPeriod) failures += 1;
      if (failures >= this.check.retries) throw this.unhealthy(`its health check failed ${failures} times in a row: ${result.output}`);
      await delay(Math.min(this.check.startIntervalMs, Math.max(0, deadline - Date.now())));
    }
    throw this.unhealthy(`its health check did not pass within ${Math.round(timeoutMs / 1000)} s: ${this.lastResult?.output ?? 'no probe finished'}`);
  }

  /**
   * Probes every `intervalMs` until `stop` and calls `onUnhealthy` once after `retries`
   * failures in a row. A `default` check only gates starts: Docker too leaves a container
   * without a HEALTHCHECK alone.
   */
  watch(onUnhealthy: (output: string) => void): void {
    this.stop();
    if (this.check.source === 'default') return;
    const controller = new AbortController();
    this.watching = controller;
    void this.watchLoop(controller.signal, onUnhealthy).catch(() => undefined);
  }

  stop(): void {
    this.watching?.abort();
    this.watching = undefined;
  }

  private async watchLoop(signal: AbortSignal, onUnhealthy: (output: string) => void): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      await delay(this.check.intervalMs, undefined, { signal });
      const result = await this.probe();
      if (signal.aborted) return;
      if (result.healthy) {
        failures = 0;
        continue;
      }
      failures += 1;
      this.log.info({ failures, retries: this.check.retries, output: result.output }, 'health check failed');
      if (failures >= this.check.retries) {
        this.stop();
        onUnhealthy(result.output);
        return;
      }
    }
  }

  private async probe(): Promise<ProbeResult> {
    this.lastResult = await runProbe(this.check.probe, this.target, this.check.timeoutMs);
    return this.lastResult;
  }

  private unhealthy(reason: string): UnhealthyError {
    return new UnhealthyError(reason, { containerId: this.target.containerId, source: this.check.source });
  }
}
