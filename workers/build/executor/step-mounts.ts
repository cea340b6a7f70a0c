import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import { mountOverlay } from '../../../shared/container/overlay-mount.ts';
import type { BindMount } from '../../../shared/container/runtime-spec.ts';
import type { SpecMount } from '../../../shared/container/runtime-spec-types.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { runCommand } from '../../../shared/process/run-command.ts';
import { imageLayers, loadImage } from '../base-image.ts';
import type { BuildSession } from '../build-session.ts';
import { checksumSources } from '../cache/source-checksum.ts';
import type { MountSource, RunMount, RunStep } from '../frontend/index.ts';
import { layerFolders } from '../stage-state.ts';
import { openCacheMount } from './cache-mounts.ts';
import { SecretFolder } from './secret-files.ts';
import { StepFilesystem } from './step-filesystem.ts';

/** The `RUN --mount`s of one step, ready for its runtime spec. */
export interface PreparedMounts {
  binds: BindMount[];
  /** Mounts that are not binds: tmpfs. */
  others: SpecMount[];
  /** `NAME=value` entries of secrets mounted as environment variables. */
  env: string[];
  /** Every secret value the step sees, so its output can be redacted. */
  secretValues: Buffer[];
  /** A tmpfs folder for the runtime bundle when secrets are in the environment, so they stay off the disk. */
  bundleParent?: string;
  /** Unmounts views and secrets and releases cache locks; safe to call twice. */
  release(): Promise<void>;
}

/** The folder below the data folder that holds the cache mounts of every app. */
export const CACHE_MOUNTS_FOLDER = 'build-cache-mounts';

/**
 * Returns a digest of what a step's mounts bring in from outside its filesystem, for the
 * cache key: the files a bind mount takes from the build context, and which stage state
 * or image a bind or cache mount takes `from`. Cache, tmpfs and secret contents are left
 * out, as the Dockerfile reference says they do not invalidate the cache.
 */
export async function mountInputsChecksum(session: BuildSession, step: RunStep): Promise<string | undefined> {
  const parts: string[] = [];
  for (const mount of step.mounts) {
    if (mount.type === 'bind' && mount.from.kind === 'context') {
      const hostPath = await contextSource(session, mount.source, step);
      parts.push(`${mount.target} context ${await checksumSources([{ path: mount.source, hostPath, stats: await lstat(hostPath) }], session.contentDigests)}`);
    } else if ((mount.type === 'bind' || mount.type === 'cache') && mount.from !== undefined && mount.from.kind !== 'context') {
      parts.push(`${mount.target} ${await sourceIdentity(session, mount.from, step.line)} ${mount.source}`);
    }
  }
  if (parts.length === 0) return undefined;
  return `sha256:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;
}

/**
 * Prepares the mounts of a RUN step in `filesystem.dir`: bind mounts of the context or of
 * a read-only view of a stage or image (writable ones get a throwaway overlay, so their
 * writes vanish after the step), cache folders of the app, tmpfs mounts, and secrets on
 * a tmpfs of their own. Whatever was set up is released again when a later one fails.
 */
export async function prepareStepMounts(session: BuildSession, step: RunStep, filesystem: StepFilesystem): Promise<PreparedMounts> {
  const releases: (() => Promise<void>)[] = [];
  const prepared: PreparedMounts = {
    binds: [],
    others: [],
    env: [],
    secretValues: [],
    release: async () => {
      while (releases.length > 0) await releases.pop()!();
    },
  };

  try {
    const secrets = await mountSecrets(session, step, filesystem, prepared);
    if (secrets) releases.push(() => secrets.remove());
    for (const [index, mount] of step.mounts.entries()) {
      const scratch = path.join(filesystem.dir, `mount-${index}`);
      if (mount.type === 'tmpfs') prepared.others.push(tmpfsMount(mount.target, mount.sizeBytes));
      else if (mount.type === 'bind') prepared.binds.push(await bindMount(session, step, mount, scratch, releases));
      else if (mount.type === 'cache') prepared.binds.push(await cacheMount(session, step, mount, scratch, releases));
    }
  } catch (error) {
    await prepared.release();
    throw error;
  }
  return prepared;
}

async function bindMount(session: BuildSession, step: RunStep, mount: Extract<RunMount, { type: 'bind' }>, scratch: string, releases: (() => Promise<void>)[]): Promise<BindMount> {
  if (mount.from.kind !== 'context') {
    const view = await openView(session, mount.from, step.line, scratch);
    releases.push(() => view.dispose());
    return { source: await existingSource(view.root, mount.source, step, 'RUN --mount'), destination: mount.target, readOnly: mount.readOnly };
  }

  const hostPath = await contextSource(session, mount.source, step);
  if (mount.readOnly) return { source: hostPath, destination: mount.target, readOnly: true };

  // A writable bind of the context: the step writes into a copy, never into the context itself.
  await mkdir(scratch);
  if (!(await lstat(hostPath)).isDirectory()) {
    const copy = path.join(scratch, 'file');
    await copyFile(hostPath, copy);
    return { source: copy, destination: mount.target, readOnly: false };
  }
  const overlay = await mountOverlay({ lowerDirs: [hostPath], upperDir: path.join(scratch, 'upper'), workDir: path.join(scratch, 'work'), target: path.join(scratch, 'root') });
  releases.push(() => overlay.unmount());
  return { source: overlay.target, destination: mount.target, readOnly: false };
}

async function cacheMount(session: BuildSession, step: RunStep, mount: Extract<RunMount, { type: 'cache' }>, scratch: string, releases: (() => Promise<void>)[]): Promise<BindMount> {
  const cache = await openCacheMount({
    rootDir: path.join(session.deps.config.dataDir, CACHE_MOUNTS_FOLDER),
    scope: session.input.cacheMountScope ?? 'shared',
    id: mount.id,
    sharing: mount.sharing,
    mode: mount.mode,
    uid: mount.uid,
    gid: mount.gid,
    signal: session.signal,
    buildId: session.buildId,
  });
  releases.push(() => cache.release());

  if (cache.created && mount.from !== undefined) {
    // `from=` seeds a new cache with files of a stage, an image or the context.
    const seedRoot = mount.from.kind === 'context' ? session.input.contextDir : (await openSeedView(session, mount.from, step, scratch, releases)).root;
    const seed = await existingSource(seedRoot, mount.source, step, 'RUN --mount=type=cache');
    await runCommand('cp', ['-a', '--', `${seed}/.`, cache.hostPath]);
  }
  return { source: cache.hostPath, destination: mount.target, readOnly: mount.readOnly };
}

async function openSeedView(session: BuildSession, from: Exclude<MountSource, { kind: 'context' }>, step: RunStep, scratch: string, releases: (() => Promise<void>)[]): Promise<StepFilesystem> {
  const view = await openView(session, from, step.line, scratch);
  releases.push(() => view.dispose());
  return view;
}

/**
 * Writes the step's secrets onto a tmpfs and adds their mounts and variables. A secret
 * the build was not given fails the step when the mount is `required`, and is left out
 * otherwise, as BuildKit does.
 */
async function mountSecrets(session: BuildSession, step: RunStep, filesystem: StepFilesystem, prepared: PreparedMounts): Promise<SecretFolder | undefined> {
  const secretMounts = step.mounts.filter((mount): mount is Extract<RunMount, { type: 'secret' }> => mount.type === 'secret');
  const available = secretMounts.filter((mount) => session.input.secrets?.has(mount.id));
  const missing = secretMounts.find((mount) => mount.required && !session.input.secrets?.has(mount.id));
  if (missing) {
    throw new ValidationError(
      'BUILD_SECRET_MISSING',
      `RUN --mount=type=secret,id=${missing.id} (line ${step.line}) requires the secret ${missing.id}, but the build was not given it: ` +
        `send it with the deploy as the header Slipway-Build-Secret: ${missing.id}=<base64 value>.`,
      { details: { line: step.line, secret: missing.id } },
    );
  }
  if (available.length === 0) return undefined;

  const values = available.map((mount) => session.input.secrets!.get(mount.id)!);
  // Room for every value, the runtime bundle (a few KiB) and tmpfs' own accounting.
  const size = values.reduce((sum, value) => sum + value.length, 0) + 4 * 1024 * 1024;
  const folder = await SecretFolder.mount(path.join(filesystem.dir, 'secrets'), size);
  prepared.bundleParent = folder.dir;
  for (const [index, mount] of available.entries()) {
    const value = values[index]!;
    prepared.secretValues.push(value);
    if (mount.env !== undefined) prepared.env.push(`${mount.env}=${value.toString('utf8')}`);
    if (mount.target === undefined) continue;
    const file = await folder.writeSecret(String(index), value, mount);
    prepared.binds.push({ source: file, destination: mount.target, readOnly: true });
  }
  return folder;
}

function tmpfsMount(target: string, sizeBytes: number | undefined): SpecMount {
  return { destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(sizeBytes === undefined ? [] : [`size=${sizeBytes}`])] };
}

/** Opens a view of a stage's or an image's files with a throwaway upper folder. Dispose it in a `finally`. */
async function openView(session: BuildSession, from: Exclude<MountSource, { kind: 'context' }>, line: number, scratch: string): Promise<StepFilesystem> {
  if (from.kind === 'stage') {
    const stage = session.stages.get(from.index);
    if (!stage) throw new Error(`stage ${from.index} was not built before the step that mounts it`);
    return StepFilesystem.mount(scratch, await layerFolders(session.deps.layers, stage.state.layers));
  }
  const image = await loadImage(session, from.image, 'copy-source', line);
  return StepFilesystem.mount(scratch, await layerFolders(session.deps.layers, imageLayers(image)));
}

/** What a stage or image mount source is in the cache key: the stage's chain key or the image's digest. */
async function sourceIdentity(session: BuildSession, from: Exclude<MountSource, { kind: 'context' }>, line: number): Promise<string> {
  if (from.kind === 'image') return `image ${(await loadImage(session, from.image, 'copy-source', line)).digest}`;
  const stage = session.stages.get(from.index);
  if (!stage) throw new Error(`stage ${from.index} was not built before the step that mounts it`);
  return `stage ${stage.state.chainKey}`;
}

async function contextSource(session: BuildSession, source: string, step: RunStep): Promise<string> {
  return existingSource(session.input.contextDir, source, step, 'RUN --mount');
}

async function existingSource(root: string, source: string, step: RunStep, flag: string): Promise<string> {
  const hostPath = await resolveInRoot(root, source);
  if (await lstat(hostPath).catch(() => null)) return hostPath;
  throw new ValidationError(
    'RUN_MOUNT_SOURCE_NOT_FOUND',
    `${flag} on line ${step.line}: the source ${source} does not exist in what the mount takes it from: check the path, and that .dockerignore does not exclude it.`,
    { details: { line: step.line, source } },
  );
}
