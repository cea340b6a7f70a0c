import type { Redis } from 'ioredis';
import { ConflictError } from '../../shared/errors.ts';

/** The lock's record of its holder, which a waiting push shows. */
export interface PushLockHolder {
  pushId: string;
  /** Such as `main at 1a2b3c4`. */
  description: string;
  /** Milliseconds since the Unix epoch. */
  since: number;
}

/** The lock expires this long after its last refresh, so a crashed API process frees it. */
const LOCK_TTL_MS = 30_000;
const REFRESH_INTERVAL_MS = 10_000;
const POLL_INTERVAL_MS = 250;

// Refreshes or deletes the key only while it still holds this holder's value, so a push
// whose lock expired can never extend or free the next holder's lock.
const REFRESH_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class PushBusyError extends ConflictError {
  constructor(holder: PushLockHolder | null, waitedMs: number) {
    const holderText = holder ? `The push of ${holder.description}` : 'Another push';
    super('PUSH_IN_PROGRESS', `${holderText} is still deploying after ${Math.round(waitedMs / 1000)} s of waiting; push again when it has finished.`, {
      details: { holder },
    });
  }
}

/**
 * A lock in Redis that makes pushes to one target (an app, or a branch's preview app)
 * take turns, so that two builds never race to release one app. A push keeps it from its
 * first ref update for the target until receive-pack has exited and every deploy the
 * push started has ended.
 */
export class PushLock {
  private readonly refreshTimer: NodeJS.Timeout;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly value: string,
  ) {
    this.refreshTimer = setInterval(() => {
      void this.redis.eval(REFRESH_SCRIPT, 1, this.key, this.value, String(LOCK_TTL_MS)).catch(() => undefined);
    }, REFRESH_INTERVAL_MS);
    this.refreshTimer.unref();
  }

  /**
   * Takes the lock, polling while another push holds it, for at most `waitMs`. Calls
   * `onWait` once with the holder when the lock is busy. Throws PushBusyError when the
   * wait runs out.
   */
  static async acquire(
    redis: Redis,
    target: string,
    holder: PushLockHolder,
    options: { waitMs: number; onWait(holder: PushLockHolder | null): void },
  ): Promise<PushLock> {
    const key = `git:push-lock:${target}`;
    const value = JSON.stringify(holder);
    const startedAt = Date.now();
    let announced = false;

    for (;;) {
      if ((await redis.set(key, value, 'PX', LOCK_TTL_MS, 'NX')) === 'OK') return new PushLock(redis, key, value);

      const current = parseHolder(await redis.get(key));
      const waited = Date.now() - startedAt;
      if (waited >= options.waitMs) throw new PushBusyError(current, waited);
      if (!announced) {
        options.onWait(current);
        announced = true;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_INTERVAL_MS, options.waitMs - waited)));
    }
  }

  async release(): Promise<void> {
    clearInterval(this.refreshTimer);
    await this.redis.eval(RELEASE_SCRIPT, 1, this.key, this.value);
  }
}

function parseHolder(value: string | null): PushLockHolder | null {
  if (!value) return null;
  try {
    return JSON.parse(value) as PushLockHolder;
  } catch {
    return null;
  }
}
