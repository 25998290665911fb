/**
 * The REST service: PostgREST v13-compatible API over the exposed schemas (`REST_SCHEMAS`).
 * The schema cache is loaded at start and reloaded on `NOTIFY pgrst` and after any DDL, so a
 * table created while the stack runs is served without a restart.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceContext, Service } from '../core/service.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { loadCatalog } from '../db/catalog.ts';
import { watchSchema } from '../db/schema-watch.ts';
import { createServiceApp } from '../core/service-app.ts';
import { handleRestRequest, type RestEngineOptions } from './engine.ts';
import { buildRestModel } from './model-build.ts';
import type { RestModel } from './model.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export async function createRestService(ctx: ServiceContext): Promise<Service> {
  const schemas = ctx.config.rest.schemas;
  let model: RestModel | undefined;
  const reload = async () => {
    ctx.pools.roleSettings.invalidate();
    model = buildRestModel(await loadCatalog(ctx.pools.admin, schemas), schemas);
  };
  await reload();
  const watcher = await watchSchema(ctx.config.postgres.url, () =>
    reload().catch((err: Error) => ctx.log.error({ err }, 'rest: schema cache reload failed')),
  );

  const engine: RestEngineOptions = {
    pool: ctx.pools.request,
    verifier: createJwtVerifier(ctx.config.jwtSecret, ctx.config.jwks),
    schemas,
    model: () => model,
    maxRows: ctx.config.rest.maxRows,
    planEnabled: ctx.config.rest.planEnabled,
  };

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.raw.url ?? '/';
    const q = url.indexOf('?');
    const res = await handleRestRequest(engine, {
      method: request.method,
      path: q === -1 ? url : url.slice(0, q),
      search: q === -1 ? '' : url.slice(q + 1),
      headers: request.headers,
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
    });
    reply.code(res.status).headers(res.headers);
    if (res.statusText !== undefined) reply.raw.statusMessage = res.statusText;
    if (res.body === undefined || res.status === 204 || request.method === 'HEAD') return reply.send();
    return reply.send(res.body);
  };
  // Whatever Fastify refuses before the engine runs still gets PostgREST's answer: a path that does
  // not decode (the engine says 404 PGRST125) and a malformed Content-Type (400 PGRST102) go to the
  // engine itself; anything else (body too large, aborted body) gets PostgREST's error shape.
  const app = createServiceApp({
    name: 'rest',
    log: ctx.log,
    logRequests: !ctx.embedded,
    trustProxy: ctx.config.trustProxy,
    bodyLimit: ctx.config.maxBodyBytes,
    frameworkErrors: (err, request, reply) => (err.code === 'FST_ERR_BAD_URL' ? handler(request, reply) : frameworkError(err, request, reply)),
    routeLabel: restRouteLabel,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: FastifyError, request, reply) =>
    err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? handler(request, reply) : frameworkError(err, request, reply),
  );
  app.route({ method: [...METHODS], url: '/*', handler });
  app.route({ method: [...METHODS], url: '/', handler });
  app.setNotFoundHandler(handler);
  await app.ready();

  return {
    name: 'rest',
    handle: (req, res) => app.routing(req, res),
    async health() {
      if (!model) return { status: 'down', error: 'schema cache not loaded' };
      await ctx.pools.request.query('select 1');
      return { status: 'up' };
    },
    async close() {
      await watcher.close();
      await app.close();
    },
  };
}

/** An error Fastify raised itself, in PostgREST's error shape. */
function frameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  if (status >= 500) request.log.error({ err }, 'rest: request failed');
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ code: err.code ?? 'PGRSTX00', message: status < 500 ? err.message : 'Internal server error', details: null, hint: null }));
}

/** REST's route templates in the HTTP metrics: the OpenAPI root, a function, or a table/view. */
function restRouteLabel(request: FastifyRequest): string {
  const url = request.raw.url ?? '/';
  if (url === '/' || url.startsWith('/?')) return '/';
  return url.startsWith('/rpc/') ? '/rpc/:function' : '/:relation';
}
