import { createHash } from 'node:crypto';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveInRoot } from '../../../shared/container/secure-path.ts';
import { resolveOwnership } from '../../../shared/container/user-resolution.ts';
import { ValidationError } from '../../../shared/errors.ts';
import { formatImageReference } from '../../../shared/oci/image-reference.ts';
import { createIgnoreMatcher } from '../../../shared/build-context/dockerignore.ts';
import { imageLayers, loadImage } from '../base-image.ts';
import { copySourceNotFound, copySourceOutside, describeStep } from '../build-errors.ts';
import type { StepProgress } from '../build-progress.ts';
import type { BuildSession } from '../build-session.ts';
import { checksumSources, type EntryFilter } from '../cache/source-checksum.ts';
import { runFileStep } from '../file-step.ts';
import type { CopyStep } from '../frontend/index.ts';
import { layerFolders, type StageState } from '../stage-state.ts';
import { extractTarArchive, isTarArchive } from './archive-source.ts';
import { expandSource, findEscapingLink, type ExpandedMatch, type SourceRoot } from './copy-sources.ts';
import { CONTEXT_OWNER, TreeWriter, type TreeWriterOptions } from './copy-tree.ts';
import { fetchRemoteSources, type FetchedRemote } from './remote-sources.ts';
import { StepFilesystem } from './step-filesystem.ts';

/**
 * Runs a COPY or ADD step: opens the source root (the build context, or a read-only
 * view of a stage or image), expands the sources, resolves ADD's URLs and git
 * repositories, checksums everything for the cache key, and copies it into the step's
 * filesystem. The view and downloads are removed afterwards in any case.
 */
export async function executeCopyStep(session: BuildSession, state: StageState, step: CopyStep, progress: StepProgress): Promise<void> {
  checkLinkChown(step);
  const remotes = await fetchRemoteSources(session, step, path.join(session.deps.workDir, `remote-${progress.number}`));
  try {
    const localSources = step.sources.filter((source) => !remotes.sources.has(source));
    const include = excludeFilter(step.exclude);
    const source = new CopySourceRoot(session, step, progress.number, localSources, include);
    try {
      const sourceChecksum = combineChecksums([await source.checksum(), ...remotes.checksums]);
      await runFileStep(session, state, step, progress, {
        sourceChecksum,
        link: step.link,
        execute: async (filesystem) => {
          const fetched = await remotes.fetch();
          await copyAll(step, { matches: await source.matches(), fetched, include }, filesystem);
        },
      });
    } finally {
      await source.close();
    }
  } finally {
    await remotes.remove();
  }
}

/** Checksums of COPY --from sources by the layers they come from, kept by this worker process for its next builds. */
const FROM_CHECKSUMS = new Map<string, string>();
const MAX_FROM_CHECKSUMS = 2000;

/**
 * The local sources of a step and the root they are read from. A stage or image root is
 * an overlay view, mounted only when needed: its checksum is remembered by the digests
 * of the layers it is made of, so a rebuild whose COPY --from steps hit the cache
 * mounts nothing.
 */
class CopySourceRoot {
  private opened: Promise<OpenedSourceRoot> | undefined;
  private expanded: Promise<ExpandedMatch[]> | undefined;

  constructor(
    private readonly session: BuildSession,
    private readonly step: CopyStep,
    private readonly stepNumber: number,
    private readonly sources: string[],
    private readonly include: EntryFilter | undefined,
  ) {}

  async checksum(): Promise<string> {
    const memoKey = await this.layersKey();
    const known = memoKey === undefined ? undefined : FROM_CHECKSUMS.get(memoKey);
    if (known !== undefined) return known;

    const checksum = await checksumSources(await this.matches(), this.session.contentDigests, this.include);
    if (memoKey !== undefined) {
      if (FROM_CHECKSUMS.size >= MAX_FROM_CHECKSUMS) FROM_CHECKSUMS.delete(FROM_CHECKSUMS.keys().next().value!);
      FROM_CHECKSUMS.set(memoKey, checksum);
    }
    return checksum;
  }

  matches(): Promise<ExpandedMatch[]> {
    this.expanded ??= this.open().then((opened) => expandSources(opened.root, this.step, this.sources, this.include));
    return this.expanded;
  }

  async close(): Promise<void> {
    if (this.opened) await (await this.opened.catch(() => undefined))?.close();
  }

  private open(): Promise<OpenedSourceRoot> {
    this.opened ??= openSourceRoot(this.session, this.step, this.stepNumber, this.sources.length > 0);
    return this.opened;
  }

  /** What identifies the source files for the memo: the root's layer digests and the step's source flags; none for the context. */
  private async layersKey(): Promise<string | undefined> {
    const from = this.step.source;
    if (from.kind === 'context' || this.sources.length === 0) return undefined;
    const layers = from.kind === 'stage' ? this.session.stages.get(from.index)?.state.layers : imageLayers(await loadImage(this.session, from.image, 'copy-source', this.step.line));
    if (!layers) return undefined;
    const { sources, parents, exclude } = this.step;
    return createHash('sha256').update(JSON.stringify([layers.map((layer) => layer.descriptor.digest), sources, parents, exclude])).digest('hex');
  }
}

interface OpenedSourceRoot {
  root: SourceRoot;
  close(): Promise<void>;
}

async function openSourceRoot(session: BuildSession, step: CopyStep, stepNumber: number, needed: boolean): Promise<OpenedSourceRoot> {
  const from = step.source;
  if (from.kind === 'context' || !needed) return { root: { hostPath: session.input.contextDir, name: 'the build context' }, close: async () => {} };

  let folders: string[];
  let name: string;
  if (from.kind === 'stage') {
    const stage = session.stages.get(from.index);
    if (!stage) throw new Error(`stage ${from.index} was not built before the step that copies from it`);
    folders = await layerFolders(session.deps.layers, stage.state.layers);
    name = `stage ${session.plan.stages[from.index]?.name ?? from.index}`;
  } else {
    const image = await loadImage(session, from.image, 'copy-source', step.line);
    folders = await layerFolders(session.deps.layers, imageLayers(image));
    name = `image ${formatImageReference(from.image)}`;
  }

  const view = await StepFilesystem.mount(path.join(session.deps.workDir, `from-${stepNumber}`), folders);
  return { root: { hostPath: view.root, name }, close: () => view.dispose() };
}

/** Expands every local source; a source that matches nothing fails the step, naming the path and, for a link out of the root, the link. */
async function expandSources(root: SourceRoot, step: CopyStep, sources: string[], include: EntryFilter | undefined): Promise<ExpandedMatch[]> {
  const matches: ExpandedMatch[] = [];
  for (const source of sources) {
    const found = await expandSource(root, source, { parents: step.parents });
    if (found.length === 0) {
      const escape = await findEscapingLink(root.hostPath, source);
      throw escape ? copySourceOutside(step, source, escape.link, escape.target, root.name) : copySourceNotFound(step, source, root.name);
    }
    // A top-level match is tested by its path in the root, so `--exclude=*.txt` also drops a matched `notes.txt`.
    matches.push(...found.filter((match) => !include || match.path === '' || include(match.path)));
  }
  return matches;
}

/**
 * Builds the --exclude filter: patterns with .dockerignore's syntax (`*`, `**`, `!`).
 * NOTE: an excluded folder is not entered, so a `!` exception below it has no effect,
 * where BuildKit would still copy the excepted path.
 */
function excludeFilter(patterns: string[]): EntryFilter | undefined {
  if (patterns.length === 0) return undefined;
  const matcher = createIgnoreMatcher(patterns.join('\n'));
  return (relativePath) => !matcher.ignores(relativePath);
}

function combineChecksums(parts: string[]): string {
  return parts.length === 1 ? parts[0]! : `sha256:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;
}

interface CopyInputs {
  matches: ExpandedMatch[];
  fetched: FetchedRemote[];
  include: EntryFilter | undefined;
}

/**
 * Copies everything a step names, as the Dockerfile reference describes. A folder's
 * contents go into the destination folder. A file goes to the destination path, or into
 * it when the destination ends with `/` or is an existing folder. Several sources need
 * such a folder destination. ADD extracts a local tar archive into the destination
 * folder, and with `--parents` each source keeps its parent folders below the destination.
 */
async function copyAll(step: CopyStep, inputs: CopyInputs, filesystem: StepFilesystem): Promise<void> {
  const root = filesystem.root;
  const options = await writerOptions(step, root, inputs.include);
  const writer = new TreeWriter(root, options);
  const count = inputs.matches.length + inputs.fetched.length + step.inlineFiles.length;
  const intoFolder = step.destination.endsWith('/') || step.parents || (await isFolder(root, step.destination));
  if (!intoFolder && (step.sources.length + step.inlineFiles.length > 1 || count > 1)) throw severalSourcesNeedFolder(step);
  const fileTarget = (name: string) => (intoFolder ? path.posix.join(step.destination, name) : step.destination);

  for (const [index, match] of inputs.matches.entries()) {
    const unpack = step.keyword === 'ADD' && step.unpack !== false && match.stats.isFile() && (await isTarArchive(match.hostPath));
    const target = step.parents ? path.posix.join(step.destination, match.parentsPath) : match.stats.isDirectory() || unpack ? step.destination : fileTarget(path.posix.basename(match.path));
    if (unpack) await addArchive(step, match.hostPath, match.path, target, root, path.join(filesystem.dir, `archive-${index}`), options);
    else await writer.copy(match.hostPath, match.stats, target);
  }

  for (const [index, remote] of inputs.fetched.entries()) {
    const stats = await lstat(remote.hostPath);
    if (remote.kind === 'git') await writer.copy(remote.hostPath, stats, step.destination);
    else if (step.unpack === true && (await isTarArchive(remote.hostPath))) {
      await addArchive(step, remote.hostPath, remote.name, step.destination, root, path.join(filesystem.dir, `remote-archive-${index}`), options);
    } else await writer.copy(remote.hostPath, stats, fileTarget(remote.name));
  }

  await writeInlineFiles(step, writer, path.join(filesystem.dir, 'inline'), fileTarget);
}

/** Writes here-document sources as files (mode 0644 unless --chmod) and copies them like context files. */
async function writeInlineFiles(step: CopyStep, writer: TreeWriter, scratch: string, fileTarget: (name: string) => string): Promise<void> {
  for (const [index, file] of step.inlineFiles.entries()) {
    const hostPath = path.join(scratch, String(index));
    await mkdir(scratch, { recursive: true });
    await writeFile(hostPath, file.content, { mode: 0o644 });
    await writer.copy(hostPath, await lstat(hostPath), fileTarget(file.name));
  }
}

/**
 * Returns the owner and mode of the copied entries. The owner is `--chown` resolved
 * against the image's /etc/passwd and /etc/group, else root for context files, inline
 * files and downloads, and the source's owner for files from a stage or image.
 */
async function writerOptions(step: CopyStep, root: string, include: EntryFilter | undefined): Promise<TreeWriterOptions> {
  const owner = step.chown !== undefined ? await resolveOwnership(root, step.chown) : step.source.kind === 'context' ? CONTEXT_OWNER : undefined;
  return { owner, mode: step.chmod, include };
}

/** Extracts an archive next to the step's filesystem, then copies the result in. The archive's owners are kept unless `--chown` is given. */
async function addArchive(step: CopyStep, archive: string, displayName: string, destination: string, root: string, scratchDir: string, options: TreeWriterOptions): Promise<void> {
  await mkdir(scratchDir);
  try {
    await extractTarArchive(archive, scratchDir, displayName);
    const owner = step.chown !== undefined ? options.owner : undefined;
    const writer = new TreeWriter(root, { owner, mode: options.mode });
    await writer.copy(scratchDir, await lstat(scratchDir), destination);
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

async function isFolder(root: string, containerPath: string): Promise<boolean> {
  const stats = await lstat(await resolveInRoot(root, containerPath)).catch(() => null);
  return stats?.isDirectory() ?? false;
}

/** With --link files go into an empty filesystem, which has no /etc/passwd, so --chown needs numbers (Dockerfile reference, COPY --chown). */
function checkLinkChown(step: CopyStep): void {
  if (!step.link || step.chown === undefined || /^\d+(:\d+)?$/.test(step.chown)) return;
  throw new ValidationError(
    'COPY_LINK_CHOWN_NAME',
    `${describeStep(step)} uses --link with --chown=${step.chown}: a --link copy cannot see the image's users and groups, so give numeric ids such as --chown=1000:1000.`,
    { details: { line: step.line, chown: step.chown } },
  );
}

function severalSourcesNeedFolder(step: CopyStep): ValidationError {
  return new ValidationError(
    'COPY_DESTINATION_NOT_FOLDER',
    `${describeStep(step)} copies several files, so its destination must be a folder: end it with a slash (${step.destination}/).`,
    { details: { line: step.line, destination: step.destination } },
  );
}
