import { chmod, lstat, mkdir, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DebianMirrors } from './apt-sources.ts';

/**
 * Trims a debootstrap root to what a container image holds. Much as Docker's official
 * Debian images do, it leaves out package lists, downloaded packages, apt binary
 * caches, the contents of /dev, /proc and /sys (the runtime mounts them) and the
 * machine-id. It also empties the host files that debootstrap copied in (hosts,
 * hostname, resolv.conf).
 *
 * For `apt-get` in a build step it writes deb822 sources for the suite, its updates
 * and its security archive, and apt settings that drop downloaded packages. A
 * policy-rc.d keeps package scripts from starting services inside a build container.
 */
export async function cleanDebianRoot(root: string, mirrors: DebianMirrors, suite: string): Promise<void> {
  const inRoot = (relative: string) => path.join(root, relative);

  await emptyFolder(inRoot('var/lib/apt/lists'), { keepFolders: true });
  await removeMatching(inRoot('var/cache/apt/archives'), (name) => name.endsWith('.deb'));
  await removeMatching(inRoot('var/cache/apt'), (name) => name.endsWith('.bin'));
  await removeMatching(inRoot('var/cache/debconf'), (name) => name.endsWith('-old'));
  await removeMatching(inRoot('var/lib/dpkg'), (name) => name.endsWith('-old'));
  await rm(inRoot('var/log/bootstrap.log'), { force: true });
  await truncateLogs(inRoot('var/log'));

  for (const folder of ['dev', 'proc', 'sys']) await emptyFolder(inRoot(folder), { keepFolders: false });
  await writeFile(inRoot('etc/machine-id'), '');
  await rm(inRoot('var/lib/dbus/machine-id'), { force: true });
  await writeFile(inRoot('etc/hostname'), '');
  await writeFile(inRoot('etc/resolv.conf'), '');
  await writeFile(inRoot('etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');

  await writeAptSources(root, mirrors, suite);
  await writeFile(
    inRoot('etc/apt/apt.conf.d/slipway-clean'),
    [
      '// Keeps downloaded packages and apt binary caches out of image layers.',
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'Dir::Cache::pkgcache "";',
      'Dir::Cache::srcpkgcache "";',
      '',
    ].join('\n'),
  );
  await writeFile(inRoot('etc/apt/apt.conf.d/slipway-no-languages'), '// Translations are not downloaded in images.\nAcquire::Languages "none";\n');
  // invoke-rc.d runs this script before it starts a service, and exit code 101 means "not allowed".
  await writeFile(inRoot('usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
  await chmod(inRoot('usr/sbin/policy-rc.d'), 0o755);
}

/** Replaces debootstrap's one-line sources.list with deb822 sources, as Debian 12 images ship them. */
async function writeAptSources(root: string, mirrors: DebianMirrors, suite: string): Promise<void> {
  await rm(path.join(root, 'etc/apt/sources.list'), { force: true });
  await mkdir(path.join(root, 'etc/apt/sources.list.d'), { recursive: true });
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const text = [
    'Types: deb',
    `URIs: ${mirrors.mirror}`,
    `Suites: ${suite} ${suite}-updates`,
    'Components: main',
    `Signed-By: ${keyring}`,
    '',
    'Types: deb',
    `URIs: ${mirrors.securityMirror}`,
    `Suites: ${suite}-security`,
    'Components: main',
    `Signed-By: ${keyring}`,
    '',
  ].join('\n');
  await writeFile(path.join(root, 'etc/apt/sources.list.d/debian.sources'), text);
}

async function emptyFolder(folder: string, options: { keepFolders: boolean }): Promise<void> {
  for (const name of await readdir(folder).catch(() => [])) {
    const entry = path.join(folder, name);
    if (options.keepFolders && (await lstat(entry)).isDirectory()) {
      await emptyFolder(entry, options);
      continue;
    }
    await rm(entry, { recursive: true, force: true });
  }
}

async function removeMatching(folder: string, matches: (name: string) => boolean): Promise<void> {
  for (const name of await readdir(folder).catch(() => [])) {
    if (matches(name)) await rm(path.join(folder, name), { force: true });
  }
}

/** Empties `*.log` files but keeps them, with their owners and modes, for the tools that append to them. */
async function truncateLogs(folder: string): Promise<void> {
  for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
    const entryPath = path.join(folder, entry.name);
    if (entry.isDirectory()) await truncateLogs(entryPath);
    else if (entry.isFile() && entry.name.endsWith('.log')) await truncate(entryPath, 0);
  }
}
