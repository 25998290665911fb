/**
 * Fixed-window request counters per key (client address, email), in memory: brute-force
 * protection for sign-in, sign-up and refresh, answered with GoTrue's 429
 * `over_request_rate_limit`. One process keeps its own counts (compose runs one auth service).
 */
import { AuthError } from './errors.ts';

export class RateLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  private readonly max: number;
  private readonly windowMs: number;

  private readonly error: () => AuthError;

  constructor(max: number, windowSeconds: number, error = () => new AuthError(429, 'over_request_rate_limit', 'Request rate limit reached', {})) {
    this.max = max;
    this.windowMs = windowSeconds * 1000;
    this.error = error;
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
    if (this.max > 0 && w.count > this.max) {
      throw this.error();
    }
  }

  /** Forgets `key` (e.g. after a successful sign-in, failed attempts no longer count). */
  reset(key: string): void {
    this.windows.delete(key);
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}
