import type { BuildSession } from './build-session.ts';
import type { PlannedStage } from './frontend/index.ts';
import type { StageResult } from './stage-state.ts';

/**
 * Most stages built at once. Each RUN container of a stage may use the whole build
 * memory and pids limits, so this bounds what one build can take from the worker.
 */
export const MAX_PARALLEL_STAGES = 4;

/**
 * Builds the stages the target needs, each as soon as the stages it depends on are
 * done, so independent stages run in parallel as in BuildKit. When one stage fails, the
 * others are stopped and the first error is thrown once all of them have ended.
 */
export async function buildNeededStages(
  session: BuildSession,
  buildStage: (stage: PlannedStage) => Promise<StageResult>,
): Promise<void> {
  const { plan } = session;
  const waiting = new Set(plan.neededStages);
  const running = new Map<number, Promise<void>>();
  let failure: { error: unknown } | undefined;

  const startReadyStages = () => {
    for (const index of waiting) {
      if (running.size >= MAX_PARALLEL_STAGES) return;
      const stage = plan.stages[index]!;
      if (!stage.dependsOn.every((dependency) => session.stages.has(dependency))) continue;

      waiting.delete(index);
      session.activeStages += 1;
      const task = buildStage(stage).then(
        (result) => {
          session.stages.set(index, result);
        },
        (error: unknown) => {
          failure ??= { error };
          session.abort(error);
        },
      );
      running.set(
        index,
        task.finally(() => {
          session.activeStages -= 1;
          running.delete(index);
        }),
      );
    }
  };

  startReadyStages();
  while (running.size > 0) {
    await Promise.race(running.values());
    if (!failure) startReadyStages();
  }

  if (failure) throw failure.error;
  if (waiting.size > 0) throw new Error(`stages ${[...waiting].join(', ')} were never ready to build: their dependencies form a cycle`);
}
