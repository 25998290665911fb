/**
 * TUS upload locks shared by several storage instances (REDIS_URL), the @tus/server `Locker`
 * contract (@tus/utils models/Locker.d.ts) as its MemoryLocker keeps it within one process: one
 * request at a time holds an upload; a request that wants a held upload asks the holder to let go
 * (`requestRelease`, which ends the holder's PATCH after what it has written) and waits for it,
 * at most `acquireTimeoutMs`.
 *
 * A lock is a Redis key set with NX and a token, expiring after LEASE_MS unless its holder renews
 * it (a crashed instance's locks free themselves); it is removed only by the token's owner (a
 * compare-and-delete script). Release requests are published on one channel, which every instance
 * subscribes to and forwards to the holder of that upload, if it is this instance.
 */
import { randomUUID } from 'node:crypto';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server';
import type { Redis } from '../core/redis.ts';

const LEASE_MS = 30_000;
const RETRY_MS = 50;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLocker extends Locker {
  close(): Promise<void>;
}

/** `redis` for commands; `subscriber` (a second connection, in subscriber mode) for release requests. */
export async function redisLocker(redis: Redis, subscriber: Redis, opts: { prefix?: string; acquireTimeoutMs?: number } = {}): Promise<RedisLocker> {
  const prefix = opts.prefix ?? 'nextmavens:tus';
  const channel = `${prefix}:release`;
  const timeoutMs = opts.acquireTimeoutMs ?? 30_000;
  /** Uploads this instance holds, and how to make their request let go. */
  const held = new Map<string, RequestRelease>();
  // Redis away at start: subscribe once it is there (ioredis resubscribes after reconnects itself).
  await subscriber.subscribe(channel).catch(() => subscriber.once('ready', () => void subscriber.subscribe(channel).catch(() => undefined)));
  subscriber.on('message', (ch: string, id: string) => {
    if (ch === channel) void held.get(id)?.();
  });

  const newLock = (id: string): Lock => {
    const key = `${prefix}:lock:${id}`;
    const token = randomUUID();
    let renew: NodeJS.Timeout | undefined;
    let mine: RequestRelease | undefined;
    return {
      async lock(signal, requestRelease) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT;
          if ((await redis.set(key, token, 'PX', LEASE_MS, 'NX')) === 'OK') break;
          await redis.publish(channel, id);
          if (Date.now() > deadline) throw ERRORS.ERR_LOCK_TIMEOUT;
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
        mine = requestRelease;
        held.set(id, requestRelease);
        renew = setInterval(() => void redis.eval(RENEW, 1, key, token, LEASE_MS).catch(() => undefined), LEASE_MS / 3);
        renew.unref();
      },
      async unlock() {
        clearInterval(renew);
        if (held.get(id) === mine) held.delete(id);
        await redis.eval(UNLOCK, 1, key, token);
      },
    };
  };
  return {
    newLock,
    async close() {
      await subscriber.unsubscribe(channel).catch(() => undefined);
    },
  };
}
