/**
 * The auth and storage pages call those services' own APIs (GoTrue's admin API, storage-api's)
 * from the server with the service_role key, which never reaches the browser: the page calls
 * /admin/api/auth/<path>, /admin/api/storage/<path> or /admin/api/rest/ (the OpenAPI document), the admin's session and role are checked
 * (reads for every admin, changes for developers), and only the paths listed here pass.
 * Uploads arrive as application/octet-stream with the file's type in `x-content-type`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdminError } from '../errors.ts';
import type { UpstreamService } from '../deps.ts';
import type { AdminContext } from '../server.ts';

/** The paths each page may reach (after /admin/api/<service>/), by method. */
const ALLOWED: Record<UpstreamService, { path: RegExp; methods: string[] }[]> = {
  // The OpenAPI document of the REST API (the API docs page).
  rest: [{ path: /^$/, methods: ['GET'] }],
  auth: [
    { path: /^admin\/users$/, methods: ['GET', 'POST'] },
    { path: /^admin\/users\/[0-9a-f-]{36}$/, methods: ['GET', 'PUT', 'DELETE'] },
    { path: /^admin\/users\/[0-9a-f-]{36}\/factors(\/[0-9a-f-]{36})?$/, methods: ['GET', 'DELETE'] },
    { path: /^invite$/, methods: ['POST'] },
    { path: /^tenants$/, methods: ['GET', 'POST'] },
    { path: /^tenants\/[0-9a-f-]{36}$/, methods: ['GET', 'PATCH', 'DELETE'] },
    { path: /^tenants\/[0-9a-f-]{36}\/members(\/[0-9a-f-]{36})?$/, methods: ['GET', 'PUT', 'DELETE'] },
  ],
  storage: [
    { path: /^bucket$/, methods: ['GET', 'POST'] },
    { path: /^bucket\/[^/]+$/, methods: ['GET', 'PUT', 'DELETE'] },
    { path: /^bucket\/[^/]+\/empty$/, methods: ['POST'] },
    { path: /^object\/list\/[^/]+$/, methods: ['POST'] },
    { path: /^object\/[^/]+$/, methods: ['DELETE'] },
    { path: /^object\/[^/]+\/.+$/, methods: ['GET', 'POST', 'PUT', 'DELETE'] },
  ],
};

const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'cache-control', 'etag', 'last-modified', 'x-total-count', 'link'];

async function forward(ctx: AdminContext, service: UpstreamService, req: FastifyRequest, reply: FastifyReply, path: string) {
  const key = ctx.deps.config.serviceRoleKey;
  const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  const headers: Record<string, string> = { apikey: key, authorization: `Bearer ${key}` };
  let body: Buffer | string | undefined;
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.body !== undefined) {
    if (Buffer.isBuffer(req.body)) {
      body = req.body;
      const type = req.headers['x-content-type'];
      headers['content-type'] = typeof type === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : 'application/octet-stream';
      if (typeof req.headers['x-upsert'] === 'string') headers['x-upsert'] = req.headers['x-upsert'];
    } else {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
  }
  const res = await fetch(`${ctx.deps.serviceUrl(service, req.raw)}/${path}${query}`, { method: req.method, headers, body, redirect: 'manual' }).catch(() => undefined);
  if (!res) throw new AdminError('unavailable', 503, `The ${service} service did not answer`);
  reply.code(res.status);
  for (const h of PASSED_HEADERS) {
    const v = res.headers.get(h);
    if (v !== null && h !== 'content-length') reply.header(h, v);
  }
  return reply.send(Buffer.from(await res.arrayBuffer()));
}

export function upstreamRoutes(app: FastifyInstance, ctx: AdminContext): void {
  for (const service of ['auth', 'storage', 'rest'] as const) {
    app.all<{ Params: { '*': string } }>(`/admin/api/${service}/*`, async (req, reply) => {
      const path = req.params['*'];
      const rule = ALLOWED[service].find((r) => r.path.test(path));
      if (!rule || !rule.methods.includes(req.method) || path.split('/').some((p) => p === '..' || p === '.')) {
        throw new AdminError('not_found', 404, `No admin route for ${req.method} /admin/api/${service}/${path}`);
      }
      // Listing objects is a POST in storage-api's protocol, but only reads.
      const reads = req.method === 'GET' || (service === 'storage' && path.startsWith('object/list/'));
      await ctx.session(req, reads ? 'read_only' : 'developer');
      const reply2 = await forward(ctx, service, req, reply, path.split('/').map(encodeURIComponent).join('/'));
      if (!reads && reply.statusCode < 400) await ctx.audit(req, `${service}.${req.method.toLowerCase()}`, path);
      return reply2;
    });
  }
}
