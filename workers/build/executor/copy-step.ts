import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import { resolveOwnership } from '../../../shared/container/user-resolution.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { formatImageReference } from '../../../shared/oci/image-reference.ts';
import { imageLayers, loadImage } from '../base-image.ts';
import { copySourceNotFound, describeStep } from '../build-errors.ts';
import type { StepProgress } from '../build-progress.ts';
import type { BuildSession } from '../build-session.ts';
import { checksumSources, type SourceMatch } from '../cache/source-checksum.ts';
import { runFileStep } from '../file-step.ts';
import type { CopyStep } from '../frontend/index.ts';
import { layerFolders, type StageState } from '../stage-state.ts';
import { extractTarArchive, isTarArchive } from './archive-source.ts';
import { expandSource, type SourceRoot } from './copy-sources.ts';
import { CONTEXT_OWNER, TreeWriter, type TreeWriterOptions } from './copy-tree.ts';
import { StepFilesystem } from './step-filesystem.ts';

/** ADD sources that name a URL or a git repository rather than a path. */
const REMOTE_SOURCE = /^(?:[a-z][a-z0-9+.-]*:\/\/|git@)/i;

/**
 * Runs a COPY or ADD step: opens the source root (the build context, or a read-only
 * view of a stage or image), expands the sources, checksums them for the cache key, and
 * copies them into the step's filesystem. The view is unmounted afterwards in any case.
 */
export async function executeCopyStep(session: BuildSession, state: StageState, step: CopyStep, progress: StepProgress): Promise<void> {
  rejectRemoteSources(step);
  const source = await openSourceRoot(session, step, progress.number);
  try {
    const matches = await expandSources(source.root, step);
    const sourceChecksum = await checksumSources(matches, session.contentDigests);
    await runFileStep(session, state, step, progress, {
      sourceChecksum,
      execute: (filesystem) => copyMatches(step, matches, filesystem),
    });
  } finally {
    await source.close();
  }
}

interface OpenedSourceRoot {
  root: SourceRoot;
  close(): Promise<void>;
}

async function openSourceRoot(session: BuildSession, step: CopyStep, stepNumber: number): Promise<OpenedSourceRoot> {
  const from = step.source;
  if (from.kind === 'context') return { root: { hostPath: session.input.contextDir, name: 'the build context' }, close: async () => {} };

  let folders: string[];
  let name: string;
  if (from.kind === 'stage') {
    const stage = session.stages.get(from.index);
    if (!stage) throw new Error(`stage ${from.index} was not built before the step that copies from it`);
    folders = layerFolders(stage.state);
    name = `stage ${session.plan.stages[from.index]?.name ?? from.index}`;
  } else {
    const image = await loadImage(session, from.image, 'copy-source', step.line);
    folders = (await imageLayers(session, image)).map((layer) => layer.folder);
    name = `image ${formatImageReference(from.image)}`;
  }

  const view = await StepFilesystem.mount(path.join(session.deps.workDir, `from-${stepNumber}`), folders);
  return { root: { hostPath: view.root, name }, close: () => view.dispose() };
}

async function expandSources(root: SourceRoot, step: CopyStep): Promise<SourceMatch[]> {
  const matches: SourceMatch[] = [];
  for (const source of step.sources) {
    const found = await expandSource(root, source);
    if (found.length === 0) throw copySourceNotFound(step, source, root.name);
    matches.push(...found);
  }
  return matches;
}

/**
 * Copies the matches as the Dockerfile reference describes. A folder's contents go
 * into the destination folder. A file goes to the destination path, or into it when the
 * destination ends with `/` or is an existing folder. Several matches need such a
 * folder destination. ADD extracts a local tar archive into the destination folder.
 */
async function copyMatches(step: CopyStep, matches: SourceMatch[], filesystem: StepFilesystem): Promise<void> {
  // NOTE: `--link` is accepted and copies as a plain COPY does, onto the stage's layers, so
  // links and folders of the image at the destination count, where BuildKit ignores them.
  const root = filesystem.root;
  const options = await writerOptions(step, root);
  const writer = new TreeWriter(root, options);
  const intoFolder = step.destination.endsWith('/') || (await isFolder(root, step.destination));
  if (!intoFolder && (step.sources.length > 1 || matches.length > 1)) throw severalSourcesNeedFolder(step);

  for (const [index, match] of matches.entries()) {
    if (step.keyword === 'ADD' && match.stats.isFile() && (await isTarArchive(match.hostPath))) {
      await addArchive(step, match, root, path.join(filesystem.dir, `archive-${index}`), options);
      continue;
    }
    const target = match.stats.isDirectory() || !intoFolder ? step.destination : path.posix.join(step.destination, path.posix.basename(match.path));
    await writer.copy(match.hostPath, match.stats, target);
  }
}

/**
 * Returns the owner and mode of the copied entries. The owner is `--chown` resolved
 * against the image's /etc/passwd and /etc/group, else root for context files and the
 * source's owner for files from a stage or image. The mode is `--chmod` when given, else
 * the source's mode.
 */
async function writerOptions(step: CopyStep, root: string): Promise<TreeWriterOptions> {
  const owner = step.chown !== undefined ? await resolveOwnership(root, step.chown) : step.source.kind === 'context' ? CONTEXT_OWNER : undefined;
  return { owner, mode: step.chmod };
}

/** Extracts an archive next to the step's filesystem, then copies the result in. The archive's owners are kept unless `--chown` is given. */
async function addArchive(step: CopyStep, match: SourceMatch, root: string, scratchDir: string, options: TreeWriterOptions): Promise<void> {
  await mkdir(scratchDir);
  try {
    await extractTarArchive(match.hostPath, scratchDir, match.path);
    const owner = step.chown !== undefined ? options.owner : undefined;
    const writer = new TreeWriter(root, { owner, mode: options.mode });
    await writer.copy(scratchDir, await lstat(scratchDir), step.destination);
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

async function isFolder(root: string, containerPath: string): Promise<boolean> {
  const stats = await lstat(await resolveInRoot(root, containerPath)).catch(() => null);
  return stats?.isDirectory() ?? false;
}

function rejectRemoteSources(step: CopyStep): void {
  if (step.keyword !== 'ADD') return;
  const remote = step.sources.find((source) => REMOTE_SOURCE.test(source));
  if (remote === undefined) return;
  // TODO: ADD of an http(s) URL or a git repository needs a download step with its own cache key (checksum or ETag). Until then such builds fail here.
  throw new ValidationError(
    'DOCKERFILE_UNSUPPORTED',
    `Dockerfile line ${step.line}: ADD ${remote} names a URL or git repository, which Slipway does not fetch yet: download the file into the build context and ADD it from there.`,
    { details: { line: step.line, source: remote } },
  );
}

function severalSourcesNeedFolder(step: CopyStep): ValidationError {
  return new ValidationError(
    'COPY_DESTINATION_NOT_FOLDER',
    `${describeStep(step)} copies several files, so its destination must be a folder: end it with a slash (${step.destination}/).`,
    { details: { line: step.line, destination: step.destination } },
  );
}
