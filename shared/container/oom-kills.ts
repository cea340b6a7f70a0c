import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** A kernel log record is at most about 1 KiB (PRINTK_MESSAGE_MAX); this reads any record whole. */
const RECORD_BYTES = 8 * 1024;

/**
 * Counts the OOM kills that the kernel logged for the memory cgroup `cgroupsPath` (as in
 * the runtime spec, such as /slipway/m-0123456789ab), or returns undefined when the
 * kernel log cannot be read.
 *
 * On cgroup v1 a container's memory.oom_control counts its OOM kills, but runc removes
 * the cgroup as soon as the container exits, before the runner learns of the exit. The
 * kernel logs each memory-cgroup kill as one `oom-kill:` record naming `task_memcg`, and
 * /dev/kmsg keeps the recent records. A caller compares the count before a start with
 * the count after an exit, so a kill before a restart is not counted twice.
 * NOTE: a busy host can rotate records out of the kernel's ring buffer before they are read.
 */
export async function countOomKills(cgroupsPath: string, kmsgPath = '/dev/kmsg'): Promise<number | undefined> {
  const handle = await open(kmsgPath, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;

  const needle = `task_memcg=${cgroupsPath},`;
  const buffer = Buffer.alloc(RECORD_BYTES);
  let kills = 0;
  try {
    for (;;) {
      const record = await readRecord(handle, buffer);
      if (record === 'end') return kills;
      if (record === 'failed') return undefined;
      if (record !== 'overwritten' && record.includes('oom-kill:') && record.includes(needle)) kills += 1;
    }
  } finally {
    await handle.close();
  }
}

/** Reads one /dev/kmsg record: EAGAIN marks the end of the log and EPIPE a record overwritten while reading. */
async function readRecord(handle: Awaited<ReturnType<typeof open>>, buffer: Buffer): Promise<string | 'end' | 'overwritten' | 'failed'> {
  try {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    return bytesRead === 0 ? 'end' : buffer.toString('utf8', 0, bytesRead);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') return 'end';
    if (code === 'EPIPE') return 'overwritten';
    return 'failed';
  }
}
