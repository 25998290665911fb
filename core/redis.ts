/**
 * The Redis connection a service shares state of several instances through (REDIS_URL): auth's
 * rate-limit windows (auth/rate-limit.ts), TUS upload locks (storage/tus-locker.ts). Commands
 * fail at once while Redis is away (no offline queue), so callers can decide what to do instead
 * of waiting; the connection keeps reconnecting on its own, and a failure is logged at most once a minute.
 */
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export type { Redis };

const require = createRequire(import.meta.url);

/**
 * A new ioredis client, the library loaded on first use: without REDIS_URL (the embedded stack)
 * its ~50 modules are never loaded, which is a few percent of the start.
 */
export function newRedis(url: string, options: RedisOptions): Redis {
  const { Redis: Client } = require('ioredis') as typeof import('ioredis');
  return new Client(url, options);
}

export function connectRedis(url: string, log: Logger, what: string): Redis {
  const redis = newRedis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  let warned = 0;
  redis.on('error', (err) => {
    if (Date.now() - warned < 60_000) return;
    warned = Date.now();
    log.warn({ err }, `${what}: Redis is unreachable`);
  });
  return redis;
}

/** Resolves once `redis` is ready, or after `ms` (its commands fail until it is). */
export function redisReady(redis: Redis, ms = 2000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}
