/**
 * Operations pages: the health dashboard's summary (the same as /dashboard's, ops/dashboard/routes.ts),
 * failed jobs and webhook deliveries with retry, and the audit log (admin actions, DDL, auth events) with filters.
 */
import type { FastifyInstance } from 'fastify';
import { failedJobs } from '../../ops/store.ts';
import { AdminError } from '../errors.ts';
import type { AdminContext } from '../server.ts';
import { auditEntries, retryDelivery, retryJob, webhookDeliveries } from '../store.ts';

const idParam = (id: string) => {
  if (!/^\d{1,18}$/.test(id)) throw new AdminError('not_found', 404, 'No such item');
  return id;
};

export function opsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { db } = ctx.deps;

  app.get('/admin/api/health', async (req, reply) => {
    await ctx.session(req);
    return reply.header('cache-control', 'no-store').send(await ctx.deps.healthSummary());
  });

  app.get('/admin/api/jobs/failed', async (req) => {
    await ctx.session(req);
    return failedJobs(db, { limit: 100 });
  });
  app.post<{ Params: { id: string } }>('/admin/api/jobs/:id/retry', async (req) => {
    await ctx.session(req, 'developer');
    if (!(await retryJob(db, idParam(req.params.id)))) throw new AdminError('not_found', 404, 'No such job');
    await ctx.audit(req, 'jobs.retry', req.params.id);
    return { ok: true };
  });

  app.get<{ Querystring: { status?: string } }>('/admin/api/webhooks/deliveries', async (req) => {
    await ctx.session(req);
    return webhookDeliveries(db, req.query.status || undefined);
  });
  app.post<{ Params: { id: string } }>('/admin/api/webhooks/deliveries/:id/retry', async (req) => {
    await ctx.session(req, 'developer');
    if (!(await retryDelivery(db, idParam(req.params.id)))) throw new AdminError('conflict', 409, 'No such delivery, or it was delivered already');
    await ctx.audit(req, 'webhooks.retry', req.params.id);
    return { ok: true };
  });

  app.get<{ Querystring: { action?: string; actor?: string; before?: string } }>('/admin/api/audit', async (req) => {
    await ctx.session(req);
    const before = req.query.before ? idParam(req.query.before) : undefined;
    return auditEntries(db, { action: req.query.action, actor: req.query.actor, before, limit: 100 });
  });
}
