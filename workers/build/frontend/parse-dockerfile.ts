import { isSlipwayError, ValidationError } from '../../../shared/errors.ts';
import { parseImageReference } from '../../../shared/oci/image-reference.ts';
import { expandAt, findUnusedBuildArgs, globalScope, resolveGlobalArgs, TARGET_PLATFORM_NAME } from './build-args.ts';
import type { BuildPlan, BuildWarning, PlannedStage, StageBase } from './build-plan.ts';
import { describePosition, DockerfileError, invalidInstruction, unsupportedFeature, type SourcePosition } from './dockerfile-errors.ts';
import type { ArgInstruction, CopySource, FromInstruction, ParsedInstruction } from './instruction-types.ts';
import { parseInstruction } from './parse-instruction.ts';
import { readDockerfileSource } from './source-lines.ts';

export interface ParseDockerfileOptions {
  /** `--build-arg` values by name. */
  buildArgs?: Record<string, string>;
  /** The stage to build; the last stage when absent. Matched without case, as docker does. */
  target?: string;
}

/** Spellings of the one supported platform that `--platform` may use. */
const PLATFORM_ALIASES = new Set([TARGET_PLATFORM_NAME, 'linux/x86_64', 'linux/x86-64']);

/**
 * Parses a Dockerfile into a BuildPlan. Throws a DockerfileError (a ValidationError
 * with `details.line`) for an unknown instruction or a malformed one, and a
 * ValidationError with code DOCKERFILE_TARGET_NOT_FOUND for an unknown target.
 */
export function parseDockerfile(text: string, options: ParseDockerfileOptions = {}): BuildPlan {
  const buildArgs = { ...(options.buildArgs ?? {}) };
  const source = readDockerfileSource(text);
  if (source.instructions.length === 0) {
    throw invalidInstruction({ line: 1, column: 1 }, 'the Dockerfile has no instructions: start it with FROM IMAGE, such as FROM debian:bookworm.');
  }

  checkSyntaxDirective(source.syntax, source.syntaxLine ?? 1);
  const context = { escapeCharacter: source.escapeCharacter };
  const parsed = source.instructions.map((instruction) => parseInstruction(instruction, context));
  const { globalArgDeclarations, stageGroups } = groupByStage(parsed);
  const globalArgs = resolveGlobalArgs(globalArgDeclarations, buildArgs, source.escapeCharacter);
  const scope = globalScope(globalArgs);

  const stages: PlannedStage[] = [];
  for (const group of stageGroups) stages.push(planStage(group.from, group.instructions, stages, scope, source.escapeCharacter));
  for (const stage of stages) resolveCopySources(stage, stages, scope, source.escapeCharacter);

  const target = findTarget(stages, options.target);
  const neededStages = collectNeededStages(stages, target);
  const declared = new Set([
    ...globalArgs.map((arg) => arg.name),
    ...neededStages.flatMap((index) => declaredArgNames(stages[index]!)),
  ]);
  const unusedBuildArgs = findUnusedBuildArgs(buildArgs, declared);
  const warnings: BuildWarning[] = source.warnings.map((warning) => ({ ...warning }));
  if (unusedBuildArgs.length > 0) {
    warnings.push({ message: `build args not declared by any ARG were ignored: ${unusedBuildArgs.join(', ')}` });
  }

  return {
    escapeCharacter: source.escapeCharacter,
    syntax: source.syntax,
    buildArgs,
    globalArgs,
    stages,
    target,
    neededStages,
    unusedBuildArgs,
    warnings,
  };
}

interface StageGroup {
  from: FromInstruction;
  instructions: Exclude<ParsedInstruction, FromInstruction>[];
}

/** Splits instructions at each FROM; only ARG may come before the first FROM. */
function groupByStage(parsed: ParsedInstruction[]): { globalArgDeclarations: ArgInstruction[]; stageGroups: StageGroup[] } {
  const globalArgDeclarations: ArgInstruction[] = [];
  const stageGroups: StageGroup[] = [];

  for (const instruction of parsed) {
    if (instruction.keyword === 'FROM') {
      stageGroups.push({ from: instruction, instructions: [] });
      continue;
    }
    const current = stageGroups.at(-1);
    if (current) current.instructions.push(instruction);
    else if (instruction.keyword === 'ARG') globalArgDeclarations.push(instruction);
    else {
      throw invalidInstruction(
        instruction,
        `${instruction.keyword} comes before the first FROM: only ARG may precede FROM, so start the stage with FROM IMAGE.`,
      );
    }
  }

  if (stageGroups.length === 0) {
    throw invalidInstruction(parsed[0]!, 'the Dockerfile has no FROM instruction: add FROM IMAGE after the ARGs.');
  }
  return { globalArgDeclarations, stageGroups };
}

function planStage(
  from: FromInstruction,
  instructions: StageGroup['instructions'],
  earlier: PlannedStage[],
  scope: Map<string, string>,
  escapeCharacter: string,
): PlannedStage {
  const index = earlier.length;
  if (from.name !== undefined) {
    const clash = earlier.find((stage) => stage.name === from.name);
    if (clash) throw invalidInstruction(from, `stage name ${from.name} is already used by the stage on line ${clash.line}: give each stage its own name.`);
    if (from.name === 'scratch') throw invalidInstruction(from, 'scratch is reserved for the empty image: choose another stage name.');
  }

  const base = resolveBase(from, earlier, scope, escapeCharacter);
  const platform = from.platform === undefined ? undefined : resolvePlatform(from, scope, escapeCharacter);
  const dependsOn = base.kind === 'stage' ? [base.index] : [];
  return { index, name: from.name, line: from.line, text: from.text, base, platform, instructions, dependsOn };
}

function resolveBase(from: FromInstruction, earlier: PlannedStage[], scope: Map<string, string>, escapeCharacter: string): StageBase {
  const reference = expandAt(from, from.base, scope, escapeCharacter);
  if (reference === '') {
    throw invalidInstruction(from, `the base image ${from.base} is empty after substituting ARGs: give the ARG a value or a default.`);
  }
  if (reference.toLowerCase() === 'scratch') return { kind: 'scratch' };

  const stage = earlier.find((candidate) => candidate.name === reference.toLowerCase());
  if (stage) return { kind: 'stage', index: stage.index };
  return { kind: 'image', reference, image: parseReferenceAt(from, reference) };
}

function parseReferenceAt(position: SourcePosition, reference: string) {
  try {
    return parseImageReference(reference);
  } catch (error) {
    if (!isSlipwayError(error)) throw error;
    throw invalidInstruction(position, error.message, error);
  }
}

function resolvePlatform(from: FromInstruction, scope: Map<string, string>, escapeCharacter: string): string {
  const platform = expandAt(from, from.platform!, scope, escapeCharacter);
  if (PLATFORM_ALIASES.has(platform.toLowerCase())) return TARGET_PLATFORM_NAME;
  throw unsupportedFeature(
    from,
    `platform ${JSON.stringify(platform)} is not supported: Slipway builds and runs ${TARGET_PLATFORM_NAME} images, ` +
      `so use --platform=${TARGET_PLATFORM_NAME}, --platform=$BUILDPLATFORM or --platform=$TARGETPLATFORM, or leave the flag out.`,
  );
}

/**
 * Resolves `COPY --from` and `RUN --mount=from=` when the plan is made, so the plan can
 * say which stages a target needs. As in BuildKit, the value sees only the global ARGs;
 * it names an earlier stage (by name or index) or else an image.
 */
function resolveCopySources(stage: PlannedStage, stages: PlannedStage[], scope: Map<string, string>, escapeCharacter: string): void {
  const resolve = (from: string, flag: string, position: SourcePosition): CopySource => {
    const source = resolveCopySource(from, flag, position, stage, stages, scope, escapeCharacter);
    if (source.kind === 'stage' && !stage.dependsOn.includes(source.index)) stage.dependsOn.push(source.index);
    return source;
  };

  for (const instruction of stage.instructions) {
    if (instruction.keyword === 'COPY' && instruction.flags.from !== undefined) {
      instruction.source = resolve(instruction.flags.from, 'COPY --from', instruction);
    }
    if (instruction.keyword !== 'RUN') continue;
    for (const mount of instruction.mounts) {
      const from = mount.fields.find((field) => field.key === 'from')?.value;
      if (from !== undefined) mount.from = resolve(from, 'RUN --mount=from', instruction);
    }
  }
  stage.dependsOn.sort((a, b) => a - b);
}

function resolveCopySource(
  from: string,
  flag: string,
  position: SourcePosition,
  stage: PlannedStage,
  stages: PlannedStage[],
  scope: Map<string, string>,
  escapeCharacter: string,
): CopySource {
  const value = expandAt(position, from, scope, escapeCharacter);
  if (value === '') throw invalidInstruction(position, `${flag}=${from} is empty after substituting ARGs.`);

  if (/^\d+$/.test(value)) {
    const index = Number(value);
    if (index >= stage.index) {
      throw invalidInstruction(position, `${flag}=${value} must name an earlier stage: stage indices here run from 0 to ${stage.index - 1}.`);
    }
    return { kind: 'stage', index };
  }

  const named = stages.find((candidate) => candidate.name === value.toLowerCase());
  if (named && named.index < stage.index) return { kind: 'stage', index: named.index };
  if (named) throw invalidInstruction(position, `${flag}=${value} names the stage on line ${named.line}, which comes later: move that stage above this one.`);
  return { kind: 'image', reference: value, image: parseReferenceAt(position, value) };
}

/**
 * Frontends that `# syntax=` may name: Docker's Dockerfile frontend, stable or upstream,
 * at a 1.x version, `latest`, or the upstream `master`, each optionally `-labs`, by tag
 * or digest. Slipway always builds with its own frontend, which follows that syntax.
 */
const DOCKERFILE_FRONTEND = /^(?:docker\.io\/)?docker\/dockerfile(?:-upstream)?(?::(?:1(?:\.\d+){0,2}|latest|master)(?:-labs)?)?(?:@sha256:[a-f0-9]{64})?$/;

function checkSyntaxDirective(syntax: string | undefined, line: number): void {
  if (syntax === undefined) return;
  const frontend = syntax.split(/\s/)[0]!;
  if (DOCKERFILE_FRONTEND.test(frontend)) return;
  throw new DockerfileError(
    'DOCKERFILE_SYNTAX_UNSUPPORTED',
    `${describePosition({ line, column: 1 })}: the syntax directive names the frontend ${frontend}, which Slipway cannot run: Slipway builds with its own ` +
      'implementation of the Dockerfile syntax 1.x, so use # syntax=docker/dockerfile:1 or remove the directive.',
    { line, column: 1 },
  );
}

function findTarget(stages: PlannedStage[], target: string | undefined): number {
  if (target === undefined) return stages.length - 1;

  const stage = stages.find((candidate) => candidate.name === target.toLowerCase());
  if (stage) return stage.index;
  const named = stages.filter((candidate) => candidate.name !== undefined).map((candidate) => candidate.name!);
  const available = named.length > 0 ? `the stages are ${named.join(', ')}` : 'the Dockerfile has no named stages (name one with FROM IMAGE AS NAME)';
  throw new ValidationError('DOCKERFILE_TARGET_NOT_FOUND', `Target stage ${JSON.stringify(target)} is not in the Dockerfile: ${available}.`, {
    details: { target, stages: named },
  });
}

function collectNeededStages(stages: PlannedStage[], target: number): number[] {
  const needed = new Set<number>();
  const pending = [target];
  while (pending.length > 0) {
    const index = pending.pop()!;
    if (needed.has(index)) continue;
    needed.add(index);
    pending.push(...stages[index]!.dependsOn);
  }
  return [...needed].sort((a, b) => a - b);
}

function declaredArgNames(stage: PlannedStage): string[] {
  return stage.instructions.flatMap((instruction) => (instruction.keyword === 'ARG' ? instruction.args.map((arg) => arg.name) : []));
}
