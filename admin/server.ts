/**
 * The admin dashboard's server (loaded on the first /admin request by admin/mount.ts): the UI's
 * files (admin/static.ts) and the JSON API under /admin/api, one module per page in routes/.
 * Every API request but sign-in and first run needs a session (admin/session.ts); errors are
 * `{ code, message }` with a 4xx (admin/errors.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createServiceApp } from '../core/service-app.ts';
import type { AdminDeps } from './deps.ts';
import { renderError } from './errors.ts';
import { requireRole, requireSession, type AdminSession } from './session.ts';
import type { AdminRole } from './store.ts';
import { auditAdminAction } from './store.ts';
import { staticRoutes } from './static.ts';
import { createReader } from './reader.ts';
import type { SqlPools } from './sql-runner.ts';
import { accountRoutes } from './routes/account.ts';
import { tableRoutes } from './routes/tables.ts';
import { sqlRoutes } from './routes/sql.ts';
import { opsRoutes } from './routes/ops.ts';
import { logRoutes } from './routes/logs.ts';
import { upstreamRoutes } from './routes/upstream.ts';
import { settingsRoutes } from './routes/settings.ts';

/** What each route module gets: the deps and the session/role/audit helpers bound to them. */
export interface AdminContext {
  deps: AdminDeps;
  /** The request's session, its role at least `least` (default read_only). */
  session(req: FastifyRequest, least?: AdminRole): Promise<AdminSession>;
  ip(req: FastifyRequest): string;
  /** Cookies get `Secure` when the stack is served over https. */
  secure: boolean;
  audit(req: FastifyRequest, action: string, target: string | null, detail?: Record<string, unknown>): Promise<void>;
  /** The SQL editor's connections: the owner's, and the read-only login's. */
  sqlPools: SqlPools;
}

export const UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024;

export async function buildAdminServer(deps: AdminDeps): Promise<FastifyInstance> {
  const app = createServiceApp({ name: 'admin', log: deps.log, logRequests: false, bodyLimit: UPLOAD_LIMIT_BYTES });
  const reader = createReader(deps.config, deps.db);
  app.addHook('onClose', () => reader.end());
  const ctx: AdminContext = {
    sqlPools: { owner: deps.db, reader: () => reader.pool() },
    deps,
    async session(req, least = 'read_only') {
      const s = await requireSession(deps.db, req);
      requireRole(s, least);
      return s;
    },
    ip: (req) => deps.clientAddress(req.raw),
    secure: deps.config.publicUrl.startsWith('https:'),
    async audit(req, action, target, detail = {}) {
      await auditAdminAction(deps.db, { admin: req.adminSession?.admin, ip: deps.clientAddress(req.raw) }, action, target, detail);
    },
  };
  // Uploads (the storage page) as they are; JSON is Fastify's.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = renderError(err);
    if (status >= 500) req.log.error({ err }, 'admin request failed');
    return reply.code(status).header('cache-control', 'no-store').send(body);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'not_found', message: `No admin route for ${req.method} ${req.url.split('?')[0]}` }));
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff').header('referrer-policy', 'same-origin');
  });
  staticRoutes(app);
  accountRoutes(app, ctx);
  tableRoutes(app, ctx);
  sqlRoutes(app, ctx);
  opsRoutes(app, ctx);
  logRoutes(app, ctx);
  upstreamRoutes(app, ctx);
  settingsRoutes(app, ctx);
  await app.ready();
  return app;
}
