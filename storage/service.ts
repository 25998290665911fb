/**
 * The storage service: buckets and objects over HTTP as @supabase/storage-js speaks it, every
 * object access decided by RLS on storage.objects as the caller. The parts: the routes
 * (http/routes/, one operation per file, in authenticated and public scopes: http/scopes.ts),
 * the domain (storage.ts, object.ts), its SQL (db.ts), the blob backend (backend/index.ts: fs or
 * s3) and the periodic cleanup (cleanup.ts) that collects whatever a crash leaves.
 */
import { connectRedis, redisReady } from '../core/redis.ts';
import { redisLocker } from './tus-locker.ts';
import type { FastifyInstance } from 'fastify';
import { createJwtVerifier } from '../core/jwt.ts';
import type { Service, ServiceContext } from '../core/service.ts';
import { createServiceApp } from '../core/service-app.ts';
import { createBackend } from './backend/index.ts';
import { startCleanupJob } from './cleanup.ts';
import type { StorageDeps } from './context.ts';
import { StorageDb } from './db.ts';
import { STORAGE_ERRORS, sendStorageError, storageErrorHandler } from './errors.ts';
import { releaseUnreadBody } from './http/release-body.ts';
import { registerRoutes } from './http/routes/index.ts';
import { checkBucketId } from './names.ts';

/** The hooks and handlers every storage route shares. */
function addCommonHandling(app: FastifyInstance): void {
  // Errors outside the route scopes (a body that is not JSON on an unknown route, …): storage's shape, never a stack.
  app.setErrorHandler(storageErrorHandler());
  // A refused request's unread body must not stall the client's next request (http/release-body.ts).
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode >= 400) releaseUnreadBody(req.raw, reply.raw);
    return payload;
  });
  // Bucket ids in the path are checked before any handler (NUL cannot reach Postgres; control characters are never an id).
  app.addHook('preHandler', async (req) => {
    const params = req.params as Record<string, unknown> | undefined;
    if (params?.bucket !== undefined) checkBucketId(params.bucket);
    if (params?.id !== undefined) checkBucketId(params.id);
  });
  app.get('/health', async () => ({ status: 'up' }));
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ statusCode: '404', code: 'NotFound', error: 'Not Found', message: `Route ${req.method}:${req.url.split('?')[0]} not found` }),
  );
}

export async function createStorageService(ctx: ServiceContext): Promise<Service> {
  const { config, pools } = ctx;
  const backend = await createBackend(config);
  const deps: StorageDeps = {
    pools,
    backend,
    log: ctx.log,
    verifier: createJwtVerifier(config.jwtSecret, config.jwks),
    signingKey: new TextEncoder().encode(config.jwtSecret),
  };
  const app = createServiceApp({
    name: 'storage',
    log: ctx.log,
    logRequests: !ctx.embedded,
    trustProxy: config.trustProxy,
    // A path that does not decode (bad percent-encoding) is an invalid key, in storage's shape.
    frameworkErrors: (err, _req, reply) => sendStorageError(reply, err.code === 'FST_ERR_BAD_URL' ? STORAGE_ERRORS.invalidKey(err.message) : err),
  });
  addCommonHandling(app);
  // Several storage instances share TUS upload locks through Redis (storage/tus-locker.ts).
  const redis = config.realtime.redisUrl ? [connectRedis(config.realtime.redisUrl, ctx.log, 'storage TUS locks'), connectRedis(config.realtime.redisUrl, ctx.log, 'storage TUS locks')] : [];
  await Promise.all(redis.map((r) => redisReady(r)));
  const tusLocker = redis.length ? await redisLocker(redis[0], redis[1], { prefix: `nextmavens:tus:${config.postgres.database}` }) : undefined;
  await registerRoutes(app, deps, { dataDir: config.dataDir, tusLocker });
  await app.ready();

  const cleanup = startCleanupJob(backend, pools.admin, config.storage.cleanupInterval, ctx.log);
  return {
    name: 'storage',
    handle: (req, res) => app.routing(req, res),
    async health() {
      await new StorageDb(pools.admin).ping();
      return { status: 'up' };
    },
    async close() {
      await cleanup.stop();
      await app.close();
      await tusLocker?.close();
      for (const r of redis) r.disconnect();
      backend.close?.();
    },
  };
}
