/**
 * The REST service: PostgREST v13-compatible API over the exposed schemas (`REST_SCHEMAS`).
 * The schema cache is loaded at start and reloaded on `NOTIFY pgrst` and after any DDL, so a
 * table created while the stack runs is served without a restart.
 */
import type { ServiceContext, Service } from '../gateway/service.ts';
import { createJwtVerifier } from '../gateway/jwt.ts';
import { loadCatalog } from './catalog.ts';
import { watchSchema } from '../db/schema-watch.ts';
import { createServiceApp } from '../services/fastify.ts';
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
  };

  const app = createServiceApp({ name: 'rest', log: ctx.log, logRequests: !ctx.embedded, bodyLimit: ctx.config.maxBodyBytes });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const handler = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
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
    if (res.body === undefined || res.status === 204 || request.method === 'HEAD') return reply.send();
    return reply.send(res.body);
  };
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
