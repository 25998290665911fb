/**
 * The auth service: GoTrue-compatible endpoints that @supabase/auth-js calls, plus the short
 * `/api/auth/*` routes. This file only composes: the Fastify app with auth's body parsing, NUL
 * checks, API-version header and error rendering (auth/errors.ts), the dependencies every route
 * gets (auth/deps.ts) and the route table (auth/routes/index.ts; one file per endpoint, the token
 * grants under auth/routes/token/). All SQL is in auth/store/. Mails are queued as
 * graphile-worker jobs in the request's transaction and sent by the worker the stack runs
 * (jobs/index.ts, started by cli/stack.ts); tokens carry the user's tenant.
 */
import { connectRedis, redisReady } from '../core/redis.ts';
import { clusterLink } from '../core/cluster.ts';
import { redisWindows, type SharedWindows } from './rate-limit.ts';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/load.ts';
import type { Service, ServiceContext } from '../core/service.ts';
import { createServiceApp } from '../core/service-app.ts';
import { createAuthDeps } from './deps.ts';
import { API_VERSION, AUTH_ERRORS, AuthError, sendAuthError } from './errors.ts';
import { hasNul } from './http.ts';
import { registerRoutes } from './routes/index.ts';
import { pingAuthSchema } from './store/index.ts';

/** The auth Fastify app over the owner pool, ready (tests drive it with `app.inject()`). */
export async function buildAuthApp(opts: { config: Config; pool: pg.Pool; log: Logger; logRequests: boolean; sharedWindows?: (limiter: string) => SharedWindows }): Promise<FastifyInstance> {
  const { config, pool } = opts;
  const app = createServiceApp({ name: 'auth', log: opts.log, logRequests: opts.logRequests, trustProxy: config.trustProxy });

  // auth-js sends `Content-Type: application/json` on bodiless POSTs (signOut): an empty body is {}.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '' || text === undefined) return done(null, {});
    let parsed: unknown;
    try {
      parsed = JSON.parse(text as string);
    } catch {
      return done(AUTH_ERRORS.badJson(), undefined);
    }
    if (hasNul(parsed)) return done(AUTH_ERRORS.validation('Request body must not contain NUL characters'), undefined);
    done(null, parsed);
  });
  // Query strings reach SQL too (inbox ?email=, refresh tokens): NUL is refused there as well.
  app.addHook('preHandler', async (req) => {
    if (hasNul(req.query)) throw AUTH_ERRORS.validation('Query parameters must not contain NUL characters');
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('X-Supabase-Api-Version', API_VERSION);
  });
  // Whatever a handler throws is answered here: an AuthError as GoTrue renders it, anything else
  // as a 503 (database away), a 4xx (a value Postgres refused) or a 500 without internals.
  app.setErrorHandler((err, req, reply) => {
    if ((err as { code?: string }).code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err as { statusCode?: number }).statusCode === 400) {
      return sendAuthError(req, reply, AUTH_ERRORS.badJson());
    }
    // Other framework refusals (413 body too large, 415 content type …) keep their 4xx status.
    const status = (err as { statusCode?: number }).statusCode;
    if (!(err instanceof AuthError) && typeof status === 'number' && status >= 400 && status < 500) {
      return sendAuthError(req, reply, new AuthError(status, 'validation_failed', (err as Error).message));
    }
    return sendAuthError(req, reply, err);
  });
  app.setNotFoundHandler((req, reply) => sendAuthError(req, reply, AUTH_ERRORS.notFound()));

  registerRoutes(app, createAuthDeps(config, pool, opts.sharedWindows));
  await app.ready();
  return app;
}

export async function createAuthService(ctx: ServiceContext): Promise<Service> {
  const pool = ctx.pools.admin;
  // Several auth instances share their rate-limit windows through Redis (auth/rate-limit.ts).
  const redis = ctx.config.realtime.redisUrl ? connectRedis(ctx.config.realtime.redisUrl, ctx.log, 'auth rate limits') : undefined;
  if (redis) await redisReady(redis);
  // The workers of one `nextmavens start` (WEB_CONCURRENCY) without Redis: the primary's counters (core/cluster.ts).
  const link = redis ? undefined : clusterLink();
  const prefix = `nextmavens:auth-rl:${ctx.config.postgres.database}`;
  const sharedWindows: ((limiter: string) => SharedWindows) | undefined = redis ? redisWindows(redis, prefix) : link && ((limiter) => link.counter(`${prefix}:${limiter}`));
  const app = await buildAuthApp({ config: ctx.config, pool, log: ctx.log, logRequests: !ctx.embedded, sharedWindows });
  return {
    name: 'auth',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await pingAuthSchema(pool);
      return { status: 'up' };
    },
    async close() {
      await app.close();
      redis?.disconnect();
    },
  };
}
