import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The statically linked busybox from Debian's busybox-static package. */
export const BUSYBOX_PATH = '/usr/bin/busybox';

/** The unprivileged account that makeBusyboxRoot writes to /etc/passwd and /etc/group. */
export const BUSYBOX_USER = { name: 'app', uid: 1000, gid: 1000, home: '/home/app' } as const;

/**
 * Makes a small container root folder in `dir` (created if missing): a copy of busybox at
 * /bin/busybox with a symbolic link for each applet (/bin/sh, /usr/bin/nc, ...), the usual
 * empty folders, and /etc/passwd and /etc/group with root and BUSYBOX_USER. Takes well under
 * a second, so tests can run real containers without debootstrap.
 */
export async function makeBusyboxRoot(dir: string): Promise<void> {
  for (const folder of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev', BUSYBOX_USER.home.slice(1)]) {
    await mkdir(path.join(dir, folder), { recursive: true });
  }
  await chmod(path.join(dir, 'tmp'), 0o1777);

  await copyFile(BUSYBOX_PATH, path.join(dir, 'bin/busybox'));
  await chmod(path.join(dir, 'bin/busybox'), 0o755);
  await linkApplets(dir);

  await writeFile(
    path.join(dir, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\n${BUSYBOX_USER.name}:x:${BUSYBOX_USER.uid}:${BUSYBOX_USER.gid}::${BUSYBOX_USER.home}:/bin/sh\n`,
  );
  await writeFile(path.join(dir, 'etc/group'), `root:x:0:\n${BUSYBOX_USER.name}:x:${BUSYBOX_USER.gid}:\n`);
}

/** Links every applet that `busybox --list-full` names (paths such as usr/bin/nc) to /bin/busybox. */
async function linkApplets(dir: string): Promise<void> {
  const { stdout } = await execFileAsync(BUSYBOX_PATH, ['--list-full']);
  const applets = stdout.split('\n').filter((line) => line.includes('/') && line !== 'bin/busybox');

  for (const applet of applets) {
    const linkPath = path.join(dir, applet);
    await mkdir(path.dirname(linkPath), { recursive: true });
    await symlink('/bin/busybox', linkPath);
  }
}
