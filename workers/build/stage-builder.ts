import { formatImageReference } from '../../shared/oci/image-reference.ts';
import { imageLayers, loadImage } from './base-image.ts';
import { errorAtStep } from './build-errors.ts';
import { StepProgress, stepPosition } from './build-progress.ts';
import type { BuildSession } from './build-session.ts';
import { executeCopyStep } from './executor/copy-step.ts';
import { executeRunStep } from './executor/run-step.ts';
import { executeWorkdir } from './executor/workdir-step.ts';
import { runFileStep } from './file-step.ts';
import { StageEvaluator, type EvaluatedStep, type PlannedStage, type StageInstruction, type StageStart } from './frontend/index.ts';
import { copyState, type StageResult, type StageState } from './stage-state.ts';

const FILE_STEP_KEYWORDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

/** A stage while it is built: its state and how its header lines number the steps. */
interface StageRun {
  session: BuildSession;
  stage: PlannedStage;
  state: StageState;
  /** The stage's name in headers when the build has several stages. */
  label?: string;
  /** FROM plus the stage's file steps, ONBUILD triggers included. */
  totalSteps: number;
  /** Position of the last file step started, counting FROM as 1. */
  position: number;
}

/**
 * Builds one stage: resolves its base, runs the base's ONBUILD triggers and then the
 * stage's instructions in order, and returns its layers, history and config. Stages it
 * depends on must be in `session.stages` already.
 */
export async function buildStage(session: BuildSession, stage: PlannedStage): Promise<StageResult> {
  session.throwIfAborted();
  const label = session.plan.stages.length > 1 ? (stage.name ?? `stage-${stage.index}`) : undefined;
  const base = await resolveBase(session, stage);
  const evaluator = new StageEvaluator(session.plan, stage, base.start);
  const instructions: StageInstruction[] = [...evaluator.onbuildTriggers, ...stage.instructions];
  const totalSteps = 1 + instructions.filter((instruction) => FILE_STEP_KEYWORDS.has(instruction.keyword)).length;

  const progress = StepProgress.start(session.output, session.nextStepNumber(), stepPosition(label, 1, totalSteps), stage.text);
  if (base.description) progress.note(base.description);
  progress.done();
  session.deps.log.info({ stage: stage.index, base: stage.base.kind, steps: instructions.length }, 'build stage started');

  const run: StageRun = { session, stage, state: base.state, label, totalSteps, position: 1 };
  for (const instruction of instructions) {
    session.throwIfAborted();
    const { step } = evaluator.evaluate(instruction);
    try {
      await executeStep(run, step);
    } catch (error) {
      throw errorAtStep(error, session.buildId, step);
    }
  }

  const snapshot = evaluator.snapshot();
  return { index: stage.index, state: run.state, config: snapshot.config, author: snapshot.author, start: snapshot };
}

async function executeStep(run: StageRun, step: EvaluatedStep): Promise<void> {
  const { session, state } = run;
  if (!FILE_STEP_KEYWORDS.has(step.keyword)) {
    // Config-only instructions add a history entry but no layer, as docker records them.
    const created = session.lastChangeTime(state.lastCreated);
    state.history.push({ ...(created === undefined ? {} : { created }), created_by: step.createdBy, empty_layer: true });
    return;
  }

  run.position += 1;
  const position = stepPosition(run.label, run.position, run.totalSteps);
  const progress = StepProgress.start(session.output, session.nextStepNumber(), position, step.text);
  switch (step.keyword) {
    case 'RUN':
      await executeRunStep(session, state, step, progress);
      return;
    case 'WORKDIR':
      await runFileStep(session, state, step, progress, { execute: (filesystem) => executeWorkdir(step, filesystem) });
      return;
    case 'COPY':
    case 'ADD':
      await executeCopyStep(session, state, step, progress);
      return;
  }
}

interface ResolvedBase {
  state: StageState;
  start: StageStart;
  /** A line for the build output, such as the digest an image reference resolved to. */
  description?: string;
}

/** Resolves the stage's base: the empty scratch, the final state of an earlier stage, or an image. */
async function resolveBase(session: BuildSession, stage: PlannedStage): Promise<ResolvedBase> {
  const base = stage.base;
  if (base.kind === 'scratch') return { state: { layers: [], history: [], chainKey: 'scratch' }, start: {} };

  if (base.kind === 'stage') {
    const parent = session.stages.get(base.index);
    if (!parent) throw new Error(`stage ${base.index} was not built before stage ${stage.index}, which is based on it`);
    return { state: copyState(parent.state), start: parent.start };
  }

  const image = await loadImage(session, base.image, 'base', stage.line);
  const state: StageState = {
    layers: imageLayers(image),
    history: (image.config.history ?? []).map((entry) => ({ ...entry })),
    chainKey: image.digest,
    lastCreated: image.config.created,
  };
  const description = `resolved ${formatImageReference(base.image)} to ${image.digest}`;
  return { state, start: { config: image.config.config ?? {}, author: image.config.author }, description };
}
