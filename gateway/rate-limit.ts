/**
 * The edge's rate limits: per route group (RATE_LIMIT_<GROUP>, requests per minute) and per caller
 * key (gateway/edge.ts rateKey), with rate-limiter-flexible. With REDIS_URL the counts live in Redis,
 * shared by every gateway instance (without it, the node:cluster workers of one `nextmavens start`
 * count in their primary: core/cluster.ts); while Redis is unreachable each instance counts in memory
 * (the insurance limiter) instead of failing requests. Each key is its own counter: one tenant's
 * flood never waits on another's (no locks, no queues).
 */
import { connectRedis, type Redis } from '../core/redis.ts';
import type { Logger } from 'pino';
import { createRequire } from 'node:module';
import type * as Flexible from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';

// The package's index loads every store it supports (Mongo, MySQL, Dynamo, Etcd, …, ~35 modules):
// only the three classes used here are loaded, from the files the index itself re-exports.
const require = createRequire(import.meta.url);
const RateLimiterMemory = require('rate-limiter-flexible/lib/RateLimiterMemory.js') as typeof Flexible.RateLimiterMemory;
const RateLimiterRedis = require('rate-limiter-flexible/lib/RateLimiterRedis.js') as typeof Flexible.RateLimiterRedis;
const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes.js') as typeof Flexible.RateLimiterRes;
type RateLimiterRes = Flexible.RateLimiterRes;
import { ROUTE_GROUPS, type RouteGroup } from './routes.ts';
import { clusterLink } from '../core/cluster.ts';

const WINDOW_SECONDS = 60;

export interface RateDecision {
  allowed: boolean;
  /** Requests per window. */
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface RateLimits {
  /** Counts one request of `key` in `group`; undefined when the group has no limit. */
  consume(group: RouteGroup, key: string): Promise<RateDecision | undefined>;
  close(): Promise<void>;
}

export interface RateLimitOptions {
  /** Requests per minute per key for each group; 0 = off. */
  limits: Record<RouteGroup, number>;
  redisUrl?: string;
  /** Separates deployments (and test runs) sharing a Redis. */
  keyPrefix?: string;
  log: Logger;
}

function decision(res: RateLimiterRes, limit: number, allowed: boolean): RateDecision {
  return { allowed, limit, remaining: Math.max(0, res.remainingPoints), resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
}

/** The limits; with Redis, once it is connected (or has failed to within 2 s: memory until it comes). */
export async function createRateLimits(opts: RateLimitOptions): Promise<RateLimits> {
  const prefix = opts.keyPrefix ?? 'nextmavens:rl';
  let redis: Redis | undefined;
  if (opts.redisUrl && ROUTE_GROUPS.some((g) => opts.limits[g] > 0)) {
    // No offline queue: while Redis is away a command fails at once and the memory limiter answers.
    redis = connectRedis(opts.redisUrl, opts.log, 'gateway: rate limits (counted in memory meanwhile)');
    const client = redis;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      const done = () => {
        clearTimeout(timer);
        client.off('ready', done).off('error', done);
        resolve();
      };
      client.once('ready', done).once('error', done);
    });
  }
  const limiters = new Map<RouteGroup, { limiter: RateLimiterAbstract; points: number }>();
  for (const group of ROUTE_GROUPS) {
    const points = opts.limits[group];
    if (!points) continue;
    const base = { points, duration: WINDOW_SECONDS, keyPrefix: `${prefix}:${group}` };
    const memory = new RateLimiterMemory(base);
    const limiter = redis ? new RateLimiterRedis({ ...base, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory }) : memory;
    limiters.set(group, { limiter, points });
  }
  // The workers of one `nextmavens start` (WEB_CONCURRENCY) without Redis count in the primary
  // (core/cluster.ts), each worker's memory limiter standing in if the primary does not answer.
  const shared = redis ? undefined : clusterLink()?.counter(prefix);
  return {
    async consume(group, key) {
      const entry = limiters.get(group);
      if (!entry) return undefined;
      if (shared) {
        const counted = await shared.hit(`${group}:${key}`, WINDOW_SECONDS * 1000).catch(() => undefined);
        if (counted) {
          const allowed = counted.count <= entry.points;
          return { allowed, limit: entry.points, remaining: Math.max(0, entry.points - counted.count), resetSeconds: Math.max(1, Math.ceil(counted.ttlMs / 1000)) };
        }
      }
      try {
        return decision(await entry.limiter.consume(key), entry.points, true);
      } catch (err) {
        if (err instanceof RateLimiterRes) return decision(err, entry.points, false);
        opts.log.warn({ err }, 'gateway: rate limit not counted');
        return undefined;
      }
    },
    async close() {
      redis?.disconnect();
    },
  };
}

/** The IETF draft's RateLimit-* headers, plus Retry-After on a refusal. */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const headers: Record<string, string> = { 'RateLimit-Limit': String(d.limit), 'RateLimit-Remaining': String(d.remaining), 'RateLimit-Reset': String(d.resetSeconds) };
  if (!d.allowed) headers['Retry-After'] = String(d.resetSeconds);
  return headers;
}
