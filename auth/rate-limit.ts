/**
 * Fixed-window request counters per key (client address, email): brute-force protection for
 * sign-in, sign-up and refresh, answered with GoTrue's 429 `over_request_rate_limit`.
 *
 * Each process counts in memory; with REDIS_URL the windows are also counted in Redis, shared by
 * every auth instance behind the load balancer (INCR of one key per window, expiring with it), or,
 * without Redis, in the primary of one `nextmavens start` whose workers (WEB_CONCURRENCY) share them
 * (core/cluster.ts).
 * `hit` stays synchronous, so it decides on the count as this process last learned it: its own
 * hits plus what Redis answered for its previous ones. A key spread over N instances may thus get
 * a few requests past the limit (about N−1, more while a reply is still on its way) before every
 * instance has seen the shared count; while Redis is away each instance counts alone.
 */
import type { Redis } from '../core/redis.ts';
import { AuthError } from './errors.ts';

/** Where windows are counted across instances. */
export interface SharedWindows {
  /** Counts a hit of `key` in a window of `windowMs`; the shared count and the window's remaining ms. */
  hit(key: string, windowMs: number): Promise<{ count: number; ttlMs: number }>;
  reset(key: string): Promise<void>;
}

/** One Lua call: INCR, and the expiry on the window's first hit; returns the count and the TTL. */
const HIT_SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`;

/** Auth's windows in Redis under `prefix` (one per limiter: `prefix:<limiter>:<key>`). */
export function redisWindows(redis: Redis, prefix = 'nextmavens:auth-rl'): (limiter: string) => SharedWindows {
  return (limiter) => ({
    async hit(key, windowMs) {
      const [count, ttl] = (await redis.eval(HIT_SCRIPT, 1, `${prefix}:${limiter}:${key}`, windowMs)) as [number, number];
      return { count, ttlMs: ttl > 0 ? ttl : windowMs };
    },
    async reset(key) {
      await redis.del(`${prefix}:${limiter}:${key}`);
    },
  });
}

export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly max: number;
  private readonly windowMs: number;

  private readonly error: () => AuthError;
  private readonly shared: SharedWindows | undefined;

  constructor(max: number, windowSeconds: number, error = () => new AuthError(429, 'over_request_rate_limit', 'Request rate limit reached', {}), shared?: SharedWindows) {
    this.max = max;
    this.windowMs = windowSeconds * 1000;
    this.error = error;
    this.shared = max > 0 ? shared : undefined;
  }

  /** Counts one hit for `key`; throws 429 once the window's budget is spent. */
  hit(key: string): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size > 10_000) this.sweep(now);
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    if (this.shared) this.share(key, w);
    if (this.max > 0 && w.count > this.max) {
      throw this.error();
    }
  }

  /** Forgets `key` (e.g. after a successful sign-in, failed attempts no longer count). */
  reset(key: string): void {
    this.windows.delete(key);
    this.shared?.reset(key).catch(() => undefined);
  }

  /** Counts the hit in Redis too, and takes the shared count (and its window's end) for the next hit. */
  private share(key: string, w: { count: number; resetAt: number }): void {
    this.shared!.hit(key, this.windowMs).then(
      ({ count, ttlMs }) => {
        if (this.windows.get(key) !== w) return;
        w.count = Math.max(w.count, count);
        w.resetAt = Date.now() + ttlMs;
      },
      () => undefined, // Redis away: this instance counts alone
    );
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}
