import { readFile } from 'node:fs/promises';
import { SystemError } from '../errors.ts';

/** Docker's default open-files limit for containers; a container never gets more than this. */
export const MAX_CONTAINER_NOFILE = 1_048_576;

/**
 * Reads the hard open-files limit (RLIMIT_NOFILE) of this process from /proc/self/limits.
 * runc applies a spec's rlimits with setrlimit(2), and raising a hard limit needs
 * CAP_SYS_RESOURCE, which some hosts (VMs, nested containers) withhold even from root. There
 * a value above this hard limit fails the container start with "operation not permitted".
 * Returns Infinity for "unlimited".
 */
export async function readHardNofileLimit(limitsPath = '/proc/self/limits'): Promise<number> {
  const text = await readFile(limitsPath, 'utf8');
  return parseHardLimit(text, 'Max open files', limitsPath);
}

/** Returns the RLIMIT_NOFILE value for containers: the host's hard limit, capped at MAX_CONTAINER_NOFILE. */
export async function containerNofileLimit(limitsPath?: string): Promise<number> {
  return Math.min(await readHardNofileLimit(limitsPath), MAX_CONTAINER_NOFILE);
}

/**
 * Parses one row of the /proc/<pid>/limits table, whose columns are the limit name, the
 * soft limit, the hard limit and the unit, separated by runs of spaces.
 */
export function parseHardLimit(limitsText: string, limitName: string, source = '/proc/self/limits'): number {
  const line = limitsText.split('\n').find((candidate) => candidate.startsWith(limitName));
  const hard = line?.slice(limitName.length).trim().split(/\s+/)[1];

  if (hard === 'unlimited') return Number.POSITIVE_INFINITY;
  if (hard !== undefined && /^[0-9]+$/.test(hard)) return Number(hard);
  throw new SystemError('HOST_LIMITS_UNREADABLE', `${source} has no readable "${limitName}" row: check that /proc is mounted.`, {
    details: { limitName, line },
  });
}
