/**
 * The limiter alone, under arbitrary interleavings of concurrent requests from several tenants:
 * each tenant gets exactly min(sent, limit) through, whatever the others do, in memory and in
 * Redis (the local 127.0.0.1:6379, a fresh key prefix per run).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createRateLimits, rateLimitHeaders } from './rate-limit.ts';
import { ROUTE_GROUPS, type RouteGroup } from './routes.ts';

const log = pino({ level: 'silent' });
const only = (group: RouteGroup, n: number) => Object.fromEntries(ROUTE_GROUPS.map((g) => [g, g === group ? n : 0])) as Record<RouteGroup, number>;

async function property(redisUrl: string | undefined, numRuns: number) {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 12 }),
      // Batches of concurrent requests, each naming its tenant (0-3).
      fc.array(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }),
      async (limit, batches) => {
        const limits = await createRateLimits({ limits: only('rest', limit), redisUrl, keyPrefix: `test:${randomUUID()}`, log });
        try {
          const allowed = [0, 0, 0, 0];
          const sent = [0, 0, 0, 0];
          for (const batch of batches) {
            const decisions = await Promise.all(batch.map((t) => limits.consume('rest', `tenant:${t}`)));
            batch.forEach((t, i) => {
              sent[t]++;
              if (decisions[i]!.allowed) allowed[t]++;
              expect(decisions[i]!.limit).toBe(limit);
              expect(decisions[i]!.remaining).toBeGreaterThanOrEqual(0);
            });
          }
          expect(allowed).toEqual(sent.map((s) => Math.min(s, limit)));
          // Other groups are not limited (0 = off).
          expect(await limits.consume('graphql', 'tenant:0')).toBeUndefined();
        } finally {
          await limits.close();
        }
      },
    ),
    { numRuns },
  );
}

describe('rate limits per key', () => {
  it('in memory: each tenant gets min(sent, limit) through, whatever the interleaving', () => property(undefined, 60));
  it('in Redis: the same', () => property('redis://127.0.0.1:6379', 15));

  it('headers: the IETF draft names, Retry-After on refusals only', () => {
    expect(rateLimitHeaders({ allowed: true, limit: 10, remaining: 3, resetSeconds: 42 })).toEqual({ 'RateLimit-Limit': '10', 'RateLimit-Remaining': '3', 'RateLimit-Reset': '42' });
    expect(rateLimitHeaders({ allowed: false, limit: 10, remaining: 0, resetSeconds: 7 })).toMatchObject({ 'Retry-After': '7', 'RateLimit-Remaining': '0' });
  });
});
