import path from 'node:path';
import type { BlobStore } from '../../shared/blobs/blob-store.ts';
import type { Config } from '../../shared/config.ts';
import type { Runc } from '../../shared/container/runc.ts';
import type { Database } from '../../shared/db/database.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { ImageStore } from '../../shared/images/image-store.ts';
import type { LayerCache } from '../../shared/layers/layer-cache.ts';
import type { Logger } from '../../shared/logger.ts';
import type { BridgeNetwork } from '../../shared/network/bridge-network.ts';
import { buildCancelled } from './build-errors.ts';
import { DiskBudget } from './build-limits.ts';
import type { BuildOutput } from './build-output.ts';
import { BuildCache } from './cache/build-cache.ts';
import type { ContentDigestMemo } from './cache/source-checksum.ts';
import type { BuildPlan } from './frontend/index.ts';
import { SandboxPool } from './executor/sandbox-pool.ts';
import type { StageResult } from './stage-state.ts';

export interface BuildInput {
  buildId: string;
  /** The extracted build context, already filtered by .dockerignore. */
  contextDir: string;
  /** The Dockerfile's text. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** The stage to build; the last stage when absent. */
  target?: string;
  /** Runs every step even when the cache has it; the results are still recorded. */
  noCache?: boolean;
  /**
   * Values for `RUN --mount=type=secret` by id. They reach only the step's container: no
   * layer, cache key, image config or build output holds them.
   */
  secrets?: ReadonlyMap<string, Buffer>;
  /**
   * The owner of the app being built. The step cache is kept per owner, because a step's
   * key leaves out its secrets and its output may hold what they fetched; and an owner's
   * `FROM name@sha256:…` opens only images its tags and releases reach. Absent, the
   * build shares one cache and may open any stored image (tests and tools).
   */
  owner?: string;
  /**
   * Who owns the `RUN --mount=type=cache` folders of this build, normally the app id, so
   * builds of one app share their caches and other apps never see them.
   */
  cacheMountScope?: string;
  output: BuildOutput;
  signal?: AbortSignal;
}

export interface BuildDependencies {
  config: Config;
  db: Database;
  blobs: BlobStore;
  images: ImageStore;
  layers: LayerCache;
  runc: Runc;
  network: BridgeNetwork;
  /**
   * A scratch folder for this build. It must be on the layer cache's filesystem, because
   * finished step folders are moved into the cache; the caller removes it afterwards.
   */
  workDir: string;
  /** Most bytes of files one build may write into its layers; `config.buildDiskBytes` when absent. */
  diskLimitBytes?: number;
  log: Logger;
}

/** The cgroup parent of every build container, beside the runner's `/slipway`. */
export const BUILD_CGROUP_PARENT = '/slipway-build';

/** runc ids, sandbox ids and hostnames allow these characters; others in a build id are replaced. */
const ID_CHARACTERS = /[^A-Za-z0-9_.-]/g;
/** Keeps `<bridge>-build-<id>-<n>` well within the 200 characters of a sandbox id. */
const MAX_ID_PART = 64;

/** The state of one build that its stages and steps share. */
export class BuildSession {
  readonly cache: BuildCache;
  /** Seconds since the epoch from the SOURCE_DATE_EPOCH build arg, when given. */
  readonly sourceDateEpoch: number | undefined;
  readonly stages = new Map<number, StageResult>();
  /** Content digests of source files, shared by the COPY steps of this build. */
  readonly contentDigests: ContentDigestMemo = new Map();
  readonly startedAt = new Date();
  readonly disk: DiskBudget;
  /** Network sandboxes that the build's RUN steps share; removed when the build ends. */
  readonly sandboxes: SandboxPool;
  /** Stages being built right now; above 1, RUN output lines carry their step number. */
  activeStages = 0;
  /** Aborted when the caller cancels the build or a stage fails, which stops the stages still running. */
  private readonly abortController = new AbortController();
  private stepCounter = 0;
  private containerCounter = 0;
  private readonly idPart: string;

  constructor(
    readonly input: BuildInput,
    readonly deps: BuildDependencies,
    readonly plan: BuildPlan,
  ) {
    this.cache = new BuildCache(deps.db, deps.blobs, input.owner);
    this.sourceDateEpoch = parseSourceDateEpoch(input.buildArgs.SOURCE_DATE_EPOCH);
    this.idPart = input.buildId.replace(ID_CHARACTERS, '-').slice(0, MAX_ID_PART);
    this.disk = new DiskBudget(deps.diskLimitBytes ?? deps.config.buildDiskBytes);
    this.sandboxes = new SandboxPool(deps.network, `build-${this.idPart}`);
    const { signal } = input;
    if (signal?.aborted) this.abortController.abort(signal.reason);
    else signal?.addEventListener('abort', () => this.abortController.abort(signal.reason), { once: true });
  }

  get output(): BuildOutput {
    return this.input.output;
  }

  get buildId(): string {
    return this.input.buildId;
  }

  /** Aborted when the build is cancelled or another stage failed; RUN containers stop on it. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /** Stops the stages still running, because one failed. */
  abort(reason: unknown): void {
    this.abortController.abort(reason);
  }

  throwIfAborted(): void {
    if (this.signal.aborted) throw buildCancelled(this.buildId, this.signal.reason);
  }

  nextStepNumber(): number {
    this.stepCounter += 1;
    return this.stepCounter;
  }

  /** Returns a fresh id for a RUN container, also used for its network sandbox. */
  nextContainerId(): string {
    this.containerCounter += 1;
    return `build-${this.idPart}-${this.containerCounter}`;
  }

  /** Returns the folder for one step's scratch files, inside the build's work folder. */
  stepDir(stepNumber: number): string {
    return path.join(this.deps.workDir, `step-${stepNumber}`);
  }

  /**
   * Returns the `created` time of what changes no file (a config-only step, the image
   * itself): SOURCE_DATE_EPOCH when given, else the time of the last change before it, so
   * a rebuild from the cache gives the same config. Undefined when nothing has a time yet
   * (a base image without `created`). The field is then left out, which the OCI image
   * spec allows, because the build's own start would change the digest on every rebuild.
   */
  lastChangeTime(lastCreated: string | undefined): string | undefined {
    return this.sourceDateEpoch === undefined ? lastCreated : this.timestamp();
  }

  /** Returns the `created` time of something made at `now`: SOURCE_DATE_EPOCH when given, else `now`. */
  timestamp(now = new Date()): string {
    return this.sourceDateEpoch === undefined ? now.toISOString() : new Date(this.sourceDateEpoch * 1000).toISOString();
  }
}

/**
 * Reads SOURCE_DATE_EPOCH as reproducible-builds.org defines it: a whole number of
 * seconds since 1970-01-01 UTC. BuildKit takes it from the build arg of that name.
 */
function parseSourceDateEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d{1,12}$/.test(value)) return Number(value);
  throw new ValidationError(
    'SOURCE_DATE_EPOCH_INVALID',
    `The build arg SOURCE_DATE_EPOCH=${JSON.stringify(value)} is not a whole number of seconds since 1970-01-01 UTC: pass a value such as $(git log -1 --format=%ct).`,
  );
}
