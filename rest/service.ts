/**
 * The REST service: PostgREST v13-compatible API over the exposed schemas (`REST_SCHEMAS`).
 * The schema cache is loaded at start and reloaded on `NOTIFY pgrst` and after any DDL, so a
 * table created while the stack runs is served without a restart.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { directUrlOf } from '../config/load.ts';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { observeHttp } from '../core/metrics.ts';
import type { ServiceContext, Service } from '../core/service.ts';
import { createJwtVerifier } from '../core/jwt.ts';
import { loadCatalog } from '../db/catalog.ts';
import { watchSchema } from '../db/schema-watch.ts';
import { createServiceApp } from '../core/service-app.ts';
import { handleRestRequest, type RestEngineOptions } from './engine.ts';
import { hasNoBody, readDeclaredBody, sendRestResponse } from './raw-reply.ts';
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
  const watcher = await watchSchema(directUrlOf(ctx.config.postgres), () =>
    reload().catch((err: Error) => ctx.log.error({ err }, 'rest: schema cache reload failed')),
  );

  const engine: RestEngineOptions = {
    pool: ctx.pools.request,
    reads: ctx.pools.reads,
    verifier: createJwtVerifier(ctx.config.jwtSecret, ctx.config.jwks),
    schemas,
    model: () => model,
    maxRows: ctx.config.rest.maxRows,
    planEnabled: ctx.config.rest.planEnabled,
  };

  const serve = (method: string, url: string, headers: IncomingHttpHeaders, body?: Buffer) => {
    const q = url.indexOf('?');
    return handleRestRequest(engine, { method, path: q === -1 ? url : url.slice(0, q), search: q === -1 ? '' : url.slice(q + 1), headers, body });
  };
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const res = await serve(request.method, request.raw.url ?? '/', request.headers, Buffer.isBuffer(request.body) ? request.body : undefined);
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
    routeLabel: (request) => restRouteLabel(request.raw),
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

  // Mounted in the embedded gateway (no per-request log lines of its own), a request skips
  // Fastify when it has no body, or a body of a declared length within the limit (read whole and
  // handed over as Fastify's catch-all parser would, rest/raw-reply.ts readDeclaredBody): routing,
  // hooks and the reply were a fifth of such a request's CPU. The answer is the one Fastify would
  // send (sendRestResponse). A chunked or too large body still goes through Fastify, for its 413.
  const direct = (req: IncomingMessage, res: ServerResponse, body?: Buffer) => {
    const started = performance.now();
    serve(req.method ?? 'GET', req.url ?? '/', req.headers, body)
      .then((answer) => {
        sendRestResponse(req, res, answer);
        observeHttp('rest', restRouteLabel(req), req.method ?? 'GET', res.statusCode, (performance.now() - started) / 1000);
      })
      .catch((err: Error) => {
        ctx.log.error({ err }, 'rest: request failed');
        if (!res.headersSent) sendRestResponse(req, res, { status: 500, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ code: 'PGRSTX00', message: 'Internal server error', details: null, hint: null }) });
        else res.destroy();
      });
  };

  return {
    name: 'rest',
    handle: (req, res) => {
      if (!ctx.embedded) return app.routing(req, res);
      if (hasNoBody(req)) return direct(req, res);
      if (!readDeclaredBody(req, ctx.config.maxBodyBytes, (body) => direct(req, res, body), () => res.destroy())) app.routing(req, res);
    },
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
function restRouteLabel(request: { url?: string }): string {
  const url = request.url ?? '/';
  if (url === '/' || url.startsWith('/?')) return '/';
  return url.startsWith('/rpc/') ? '/rpc/:function' : '/:relation';
}
