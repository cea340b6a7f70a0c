import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { ValidationError } from '../errors.ts';
import { resolveInRoot } from './secure-path.ts';

/** The identity a container process runs as. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups: every /etc/group entry that lists the user by name. */
  additionalGids: number[];
}

/** The owner given to files that `COPY --chown` writes. */
export interface Ownership {
  uid: number;
  gid: number;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Docker rejects ids above 2^31 - 1, so an image that works there works here. */
const MAX_ID = 2 ** 31 - 1;
/** Larger account files than this are not plausible in an image and are rejected unread. */
const MAX_ACCOUNT_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Resolves a Dockerfile `USER` value (`name`, `uid`, `name:group` or `uid:gid`, and empty
 * for root) against /etc/passwd and /etc/group inside `root`, as runc and Docker do.
 * A numeric uid without a passwd entry runs with gid 0 unless a group is given, and a name
 * must exist. Supplementary groups are only looked up when no group is given.
 */
export async function resolveUser(root: string, userSpec: string): Promise<ResolvedUser> {
  const spec = splitSpec(userSpec.trim(), 'USER');
  const { group } = spec;
  const { uid, entry } = lookupUser(await readPasswd(root), spec.user === '' ? '0' : spec.user, 'USER');

  if (group !== undefined) {
    const gid = await resolveGroup(root, group, 'USER');
    return { uid, gid, additionalGids: [] };
  }

  const gid = entry?.gid ?? 0;
  const additionalGids = entry ? await memberGids(root, entry.name) : [];
  return { uid, gid, additionalGids };
}

/**
 * Resolves a `COPY --chown` / `ADD --chown` value to numeric ids. The Dockerfile reference
 * states that a user without a group gets the numeric uid as gid, for names and uids alike.
 * NOTE: BuildKit gives a named user its passwd primary group, and the classic builder looks
 * the name up as a group. Both match this rule for accounts made with a private group.
 */
export async function resolveOwnership(root: string, chownSpec: string): Promise<Ownership> {
  const { user, group } = splitSpec(chownSpec.trim(), '--chown');
  if (user === '') {
    throw new ValidationError('CHOWN_INVALID', `--chown=${chownSpec} names no user: write --chown=user, --chown=user:group or --chown=uid:gid.`);
  }

  const uid = parseId(user) ?? lookupUser(await readPasswd(root), user, '--chown').uid;
  const gid = group === undefined ? uid : await resolveGroup(root, group, '--chown');
  return { uid, gid };
}

async function resolveGroup(root: string, group: string, instruction: string): Promise<number> {
  const numeric = parseId(group);
  if (numeric !== undefined) return numeric;

  const entry = (await readGroups(root)).find((candidate) => candidate.name === group);
  if (!entry) {
    throw new ValidationError(
      'GROUP_NOT_FOUND',
      `${instruction} names group ${JSON.stringify(group)}, which is not in the image's /etc/group: ` +
        'create it in an earlier RUN step (groupadd) or use a numeric gid.',
      { details: { group } },
    );
  }
  return entry.gid;
}

/** Finds the uid and passwd entry of `user`; a name must exist, a numeric uid may have no entry. */
function lookupUser(passwd: PasswdEntry[], user: string, instruction: string): { uid: number; entry?: PasswdEntry } {
  const uid = parseId(user);
  if (uid !== undefined) return { uid, entry: passwd.find((entry) => entry.uid === uid) };

  const entry = passwd.find((candidate) => candidate.name === user);
  if (!entry) {
    throw new ValidationError(
      'USER_NOT_FOUND',
      `${instruction} names user ${JSON.stringify(user)}, which is not in the image's /etc/passwd: ` +
        'create it in an earlier RUN step (useradd) or use a numeric uid.',
      { details: { user } },
    );
  }
  return { uid: entry.uid, entry };
}

async function memberGids(root: string, userName: string): Promise<number[]> {
  const gids = (await readGroups(root)).filter((group) => group.members.includes(userName)).map((group) => group.gid);
  return [...new Set(gids)];
}

function splitSpec(spec: string, instruction: string): { user: string; group?: string } {
  const colon = spec.indexOf(':');
  if (colon === -1) return { user: spec };

  const user = spec.slice(0, colon);
  const group = spec.slice(colon + 1);
  if (group === '' || group.includes(':')) {
    throw new ValidationError(
      instruction === 'USER' ? 'USER_INVALID' : 'CHOWN_INVALID',
      `${instruction} value ${JSON.stringify(spec)} is invalid: write user, user:group, uid or uid:gid.`,
    );
  }
  return { user, group };
}

/** Parses a decimal id; returns undefined for a name and rejects ids out of range. */
function parseId(value: string): number | undefined {
  if (!/^[0-9]+$/.test(value)) return undefined;

  const id = Number(value);
  if (id > MAX_ID) {
    throw new ValidationError('ID_OUT_OF_RANGE', `User or group id ${value} is too large: use an id from 0 to ${MAX_ID}.`);
  }
  return id;
}

async function readPasswd(root: string): Promise<PasswdEntry[]> {
  const entries: PasswdEntry[] = [];
  for (const fields of await readAccountFile(root, '/etc/passwd')) {
    const uid = parseAccountId(fields[2]);
    const gid = parseAccountId(fields[3]);
    if (fields[0] && uid !== undefined && gid !== undefined) entries.push({ name: fields[0], uid, gid });
  }
  return entries;
}

async function readGroups(root: string): Promise<GroupEntry[]> {
  const entries: GroupEntry[] = [];
  for (const fields of await readAccountFile(root, '/etc/group')) {
    const gid = parseAccountId(fields[2]);
    const members = (fields[3] ?? '').split(',').map((member) => member.trim()).filter(Boolean);
    if (fields[0] && gid !== undefined) entries.push({ name: fields[0], gid, members });
  }
  return entries;
}

function parseAccountId(field: string | undefined): number | undefined {
  if (field === undefined || !/^[0-9]+$/.test(field)) return undefined;
  const id = Number(field);
  return id <= MAX_ID ? id : undefined;
}

/**
 * Reads an account file of the image as colon-separated fields per line, skipping comments
 * and blank lines. A missing file reads as empty. Anything but a regular file, such as a
 * FIFO or a device that an image could plant there, is rejected without reading it.
 */
async function readAccountFile(root: string, containerPath: string): Promise<string[][]> {
  const hostPath = await resolveInRoot(root, containerPath);
  try {
    assertAccountFile(await lstat(hostPath), containerPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }

  // O_NONBLOCK keeps open() from hanging if a FIFO replaced the file after the check above;
  // fstat then checks the file that was actually opened.
  const handle = await open(hostPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    assertAccountFile(await handle.stat(), containerPath);
    const text = await handle.readFile('utf8');
    return text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } finally {
    await handle.close();
  }
}

function assertAccountFile(stats: { isFile(): boolean; size: number }, containerPath: string): void {
  if (stats.isFile() && stats.size <= MAX_ACCOUNT_FILE_BYTES) return;
  throw new ValidationError(
    'ACCOUNT_FILE_INVALID',
    `${containerPath} in the image is not a regular file of at most ${MAX_ACCOUNT_FILE_BYTES} bytes: fix the image's ${containerPath}.`,
  );
}
