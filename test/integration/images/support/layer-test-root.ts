import { execFileSync } from 'node:child_process';
import { chmod, chown, copyFile, link, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUSYBOX_PATH, BUSYBOX_USER, makeBusyboxRoot } from '../../../support/rootfs.ts';

/** A name longer than ustar's 100-byte name field, so it needs a PAX path record. */
export const LONG_NAME = `${'long-name-'.repeat(12)}end.txt`;
export const UNICODE_NAME = 'café-ünïcode-名前.txt';

/**
 * `security.capability` bytes for cap_setuid,cap_net_raw+ep (vfs_cap_data revision 2).
 * The 0x80 byte checks that the value is not mangled as UTF-8 on the way.
 */
export const PING_CAPABILITY = Buffer.from('AQAAAoAgAAAAAAAAAAAAAAAAAAA=', 'base64');

/**
 * Builds the shared busybox test root and adds the cases a layer must keep. These are a
 * relative symlink, a hard link, setuid, setgid and sticky modes, a device node, a fifo,
 * numeric owners, a long and a non-ASCII name, a file capability and an old mtime.
 */
export async function makeLayerTestRoot(root: string): Promise<void> {
  await makeBusyboxRoot(root);
  // The busybox root links applets such as bin/ping to the absolute /bin/busybox, and
  // writing through such a link would change the host's file. So each path is removed first.
  const fresh = async (relative: string) => {
    await rm(path.join(root, relative), { force: true });
    return path.join(root, relative);
  };

  await symlink('busybox', await fresh('bin/relative-link'));
  await link(path.join(root, 'etc/passwd'), await fresh('etc/passwd-hardlink'));
  await writeFile(await fresh('etc/empty'), '');
  await writeFile(await fresh('etc/hostname'), 'slipway-test\n');
  await utimes(path.join(root, 'etc/hostname'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));

  await copyFile(BUSYBOX_PATH, await fresh('bin/setuid-tool'));
  await chmod(path.join(root, 'bin/setuid-tool'), 0o4755);
  await copyFile(BUSYBOX_PATH, await fresh('bin/capability-tool'));
  execFileSync('setfattr', ['-h', '-n', 'security.capability', '-v', `0s${PING_CAPABILITY.toString('base64')}`, path.join(root, 'bin/capability-tool')]);
  await mkdir(path.join(root, 'var/mail'), { recursive: true });
  await chown(path.join(root, 'var/mail'), 0, 8);
  await chmod(path.join(root, 'var/mail'), 0o2775);

  const home = path.join(root, BUSYBOX_USER.home);
  await mkdir(path.join(home, 'data'), { recursive: true });
  await writeFile(await fresh(`${BUSYBOX_USER.home}/data/notes.txt`), 'owned by app\n');
  for (const owned of [home, path.join(home, 'data'), path.join(home, 'data/notes.txt')]) await chown(owned, BUSYBOX_USER.uid, BUSYBOX_USER.gid);

  await mkdir(path.join(root, 'usr/share/doc'), { recursive: true });
  await writeFile(await fresh(`usr/share/doc/${LONG_NAME}`), 'a long name\n');
  await writeFile(await fresh(`usr/share/doc/${UNICODE_NAME}`), 'a non-ASCII name\n');
  execFileSync('mknod', ['-m', '666', await fresh('dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '600', await fresh('dev/fifo'), 'p']);
}

/** Adds what a build step's overlayfs upper directory holds: a whiteout and an opaque directory. */
export async function makeOverlayChange(upper: string): Promise<void> {
  await mkdir(path.join(upper, 'etc'), { recursive: true });
  execFileSync('mknod', [path.join(upper, 'etc/hostname'), 'c', '0', '0']);
  await mkdir(path.join(upper, 'usr/share/doc'), { recursive: true });
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', path.join(upper, 'usr/share/doc')]);
  await writeFile(path.join(upper, 'usr/share/doc/README'), 'replaces the whole folder\n');
  await mkdir(path.join(upper, 'srv'), { recursive: true });
  await writeFile(path.join(upper, 'srv/app.txt'), 'added by the step\n');
}
