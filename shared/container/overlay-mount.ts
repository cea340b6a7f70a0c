import { mkdir, mkdtemp, readFile, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SystemError, ValidationError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { CommandFailedError, runCommand } from '../process/run-command.ts';

const log = createLogger('overlay-mount');

export interface OverlayMountOptions {
  /** Read-only layers, ordered from the bottom (base layer) to the top. May be empty (FROM scratch). */
  lowerDirs: string[];
  /** Receives every change; after unmounting it is a plain diff: new files, whiteouts, opaque folders. */
  upperDir: string;
  /** Overlayfs scratch space: an empty folder on the same filesystem as `upperDir`. */
  workDir: string;
  target: string;
}

export interface OverlayMount extends AsyncDisposable {
  target: string;
  /** Unmounts the overlay; safe to call twice, and it is what `await using` calls. */
  unmount(): Promise<void>;
}

/**
 * Overlayfs options that keep the upper folder a plain diff, as described in the kernel's
 * Documentation/filesystems/overlayfs.rst and checked on Linux 6.18:
 * - redirect_dir=nofollow: renaming a folder that exists in a lower layer fails with EXDEV,
 *   so tools such as mv copy it fully instead of the kernel writing a
 *   trusted.overlay.redirect xattr. It also ignores redirect xattrs that a crafted layer
 *   carries. `off` would not, because it means `follow` when the overlay module's
 *   redirect_always_follow parameter is on (the kernel default).
 * - metacopy=off: a chmod or chown copies the whole file up, not only its metadata.
 * - index=off: no inode index under the work folder and no origin check of the lower root.
 * - uuid=off: no trusted.overlay.uuid xattr on the upper root.
 * The kernel still writes trusted.overlay.origin and trusted.overlay.impure xattrs, so a
 * layer differ must skip every trusted.overlay.* xattr except trusted.overlay.opaque.
 */
export const OVERLAY_FEATURE_OPTIONS = 'index=off,redirect_dir=nofollow,metacopy=off,uuid=off';

/**
 * mount(2) copies at most one page of option data and cuts longer strings off silently, so
 * they are never passed. The limit is a 4 KiB page (x86-64, most arm64 kernels) minus the
 * terminating NUL; larger pages only allow more.
 */
export const MAX_MOUNT_OPTIONS_BYTES = 4095;

/** Maximum number of lower layers of one overlay: Linux 6.18 rejects more with "too many lower directories, limit is 500". */
export const MAX_LOWER_LAYERS = 500;

/**
 * Mounts an overlay of `lowerDirs` with `upperDir` on top at `target`, creating the upper,
 * work and target folders when missing. Many layers with long paths are mounted through
 * short links (see buildMountOptions).
 */
export async function mountOverlay(options: OverlayMountOptions): Promise<OverlayMount> {
  validatePaths(options);
  await Promise.all([options.upperDir, options.workDir, options.target].map((dir) => mkdir(dir, { recursive: true })));

  const emptyLower = options.lowerDirs.length === 0 ? await mkdtemp(path.join(tmpdir(), 'slipway-empty-lower-')) : undefined;
  const lowerDirs = emptyLower ? [emptyLower] : options.lowerDirs;
  let linkDir: string | undefined;
  try {
    const built = await buildMountOptions(lowerDirs, options);
    linkDir = built.linkDir;
    await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', built.optionString, options.target], { cwd: built.cwd });
    log.debug({ target: options.target, layers: options.lowerDirs.length, linked: linkDir !== undefined }, 'overlay mounted');
  } catch (error) {
    if (emptyLower) await rm(emptyLower, { recursive: true, force: true });
    if (error instanceof CommandFailedError) {
      throw new SystemError('OVERLAY_MOUNT_FAILED', `Mounting the overlay at ${options.target} failed: ${error.stderr}`, {
        cause: error,
        details: { target: options.target, layers: options.lowerDirs.length },
      });
    }
    throw error;
  } finally {
    if (linkDir) await rm(linkDir, { recursive: true, force: true });
  }

  let mounted = true;
  const unmount = async () => {
    if (!mounted) return;
    await unmountOverlay(options.target);
    mounted = false;
    if (emptyLower) await rm(emptyLower, { recursive: true, force: true });
  };
  return { target: options.target, unmount, [Symbol.asyncDispose]: unmount };
}

/** Unmounts whatever is mounted at `target`; does nothing when nothing is. */
export async function unmountOverlay(target: string): Promise<void> {
  if (!(await isMountPoint(target))) return;
  try {
    await runCommand('umount', [target]);
    log.debug({ target }, 'overlay unmounted');
  } catch (error) {
    if (!(await isMountPoint(target))) return;
    throw new SystemError('OVERLAY_UNMOUNT_FAILED', `Unmounting the overlay at ${target} failed: ${(error as CommandFailedError).stderr ?? error}`, {
      cause: error,
      details: { target },
    });
  }
}

/** Checks whether `target` is a mount point in this process's mount namespace. */
export async function isMountPoint(target: string): Promise<boolean> {
  const resolved = await realpath(target).catch(() => path.resolve(target));
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountInfo.split('\n').some((line) => unescapeMountPath(line.split(' ')[4] ?? '') === resolved);
}

/** mountinfo writes space, tab, newline and backslash in paths as three-digit octal escapes. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

interface MountOptionString {
  optionString: string;
  /** Working folder of the mount command, against which relative layer paths resolve. */
  cwd?: string;
  /** Folder of short symbolic links to the layers, removed once the mount has resolved them. */
  linkDir?: string;
}

/**
 * Builds the overlay options with absolute layer paths. When they do not fit in one page,
 * the layers are named by short symbolic links (`0`, `1`, ... in base 36) in a temporary
 * folder that the mount runs in. The kernel resolves each link while mounting, so up to
 * MAX_LOWER_LAYERS layers fit whatever their paths.
 */
async function buildMountOptions(lowerDirs: string[], options: OverlayMountOptions): Promise<MountOptionString> {
  const format = (lowers: string[]) =>
    `lowerdir=${[...lowers].reverse().join(':')},upperdir=${options.upperDir},workdir=${options.workDir},${OVERLAY_FEATURE_OPTIONS}`;

  const absolute = format(lowerDirs);
  if (Buffer.byteLength(absolute) <= MAX_MOUNT_OPTIONS_BYTES) return { optionString: absolute };

  const names = lowerDirs.map((_dir, index) => index.toString(36));
  const linked = format(names);
  if (Buffer.byteLength(linked) > MAX_MOUNT_OPTIONS_BYTES) {
    throw new ValidationError(
      'OVERLAY_TOO_MANY_LAYERS',
      `The overlay of ${lowerDirs.length} layers needs ${Buffer.byteLength(linked)} bytes of mount options even with ` +
        `short layer names, more than the ${MAX_MOUNT_OPTIONS_BYTES} that fit in one page: ` +
        'squash the image into fewer layers or use shorter upper and work folder paths.',
      { details: { layers: lowerDirs.length } },
    );
  }

  const linkDir = await mkdtemp(path.join(tmpdir(), 'slipway-layer-links-'));
  try {
    await Promise.all(lowerDirs.map((dir, index) => symlink(dir, path.join(linkDir, names[index] as string))));
  } catch (error) {
    await rm(linkDir, { recursive: true, force: true });
    throw error;
  }
  return { optionString: linked, cwd: linkDir, linkDir };
}

/**
 * Overlayfs splits lowerdir at ':' and mount options at ',', and reads '\' as an escape, so
 * paths containing those characters are rejected instead of escaped.
 */
function validatePaths(options: OverlayMountOptions): void {
  if (options.lowerDirs.length > MAX_LOWER_LAYERS) {
    throw new ValidationError(
      'OVERLAY_TOO_MANY_LAYERS',
      `The overlay has ${options.lowerDirs.length} layers, more than overlayfs stacks (${MAX_LOWER_LAYERS}): squash the image into fewer layers.`,
      { details: { layers: options.lowerDirs.length } },
    );
  }
  for (const dir of [...options.lowerDirs, options.upperDir, options.workDir, options.target]) {
    if (!path.isAbsolute(dir) || /[,:\\]/.test(dir)) {
      throw new ValidationError(
        'OVERLAY_PATH_INVALID',
        `Overlay path ${JSON.stringify(dir)} is not absolute or contains ',', ':' or '\\': use an absolute path without them.`,
      );
    }
  }
}
