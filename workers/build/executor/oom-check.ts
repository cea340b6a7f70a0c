import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** One kernel log record is at most about 1 KiB; a larger buffer reads any record whole. */
const RECORD_BUFFER_BYTES = 16 * 1024;

/**
 * Checks whether the kernel's OOM killer killed a process of the memory cgroup
 * `cgroupsPath` (a path below the cgroup root, as in the runtime spec). Returns undefined
 * when the kernel log cannot be read.
 *
 * The container's own `memory.oom_control` counts OOM kills, but runc removes the
 * cgroup as soon as the container exits, before anyone can read it. The kernel also
 * logs every memory-cgroup OOM kill with `task_memcg=<path>`, which /dev/kmsg keeps,
 * so the record is looked up there. Paths of build containers are unique per step.
 */
export async function wasKilledForMemory(cgroupsPath: string): Promise<boolean | undefined> {
  return kernelLogMentions([`task_memcg=${cgroupsPath},`, `oom_memcg=${cgroupsPath},`]);
}

/**
 * Checks whether the pids controller refused a fork in the cgroup `cgroupsPath`: the
 * kernel logs "cgroup: fork rejected by pids controller in <path>" the first time it
 * does so for a cgroup. Returns undefined when the kernel log cannot be read.
 */
export async function wasForkRejected(cgroupsPath: string): Promise<boolean | undefined> {
  return kernelLogMentions([`fork rejected by pids controller in ${cgroupsPath}`]);
}

/** Reads /dev/kmsg from its start and checks whether a record contains any of `needles`. */
async function kernelLogMentions(needles: readonly string[]): Promise<boolean | undefined> {
  let handle;
  try {
    handle = await open('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }

  const buffer = Buffer.alloc(RECORD_BUFFER_BYTES);
  try {
    // Each read returns one record; EAGAIN means the end of the log, and EPIPE that the
    // next record was overwritten while reading, which only skips it.
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue;
        if (code === 'EAGAIN') return false;
        return undefined;
      }
      if (bytesRead === 0) return false;
      const record = buffer.toString('utf8', 0, bytesRead);
      if (needles.some((needle) => record.includes(needle) && endsAfter(record, needle))) return true;
    }
  } finally {
    await handle.close();
  }
}

/** Whether `needle` in `record` is not the start of a longer path (build-x-1 must not match build-x-12). */
function endsAfter(record: string, needle: string): boolean {
  if (!/[A-Za-z0-9_.-]$/.test(needle)) return true;
  const next = record[record.indexOf(needle) + needle.length];
  return next === undefined || !/[A-Za-z0-9_.-]/.test(next);
}
