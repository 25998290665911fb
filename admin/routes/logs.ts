/**
 * Request logs: the embedded gateway's recent requests kept in nextmavens.request_log
 * (gateway/request-log-sink.ts, sql/0036), newest first, with filters (service, status class,
 * method, path contains, role, tenant, time range) and paging by id. Any admin role may read.
 */
import type { FastifyInstance } from 'fastify';
import { requestLogPage, STATUS_CLASSES, type RequestLogFilter, type StatusClass } from '../../ops/request-log-store.ts';
import { AdminError } from '../errors.ts';
import type { AdminContext } from '../server.ts';

type Query = Partial<Record<'service' | 'status' | 'method' | 'path' | 'role' | 'tenant' | 'from' | 'to' | 'before' | 'limit', string>>;

const invalid = (message: string) => new AdminError('validation_failed', 400, message);

function text(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > 500) throw invalid(`${name} must be a string of at most 500 characters`);
  return value;
}

function time(value: string | undefined, name: string): Date | undefined {
  if (!text(value, name)) return undefined;
  const d = new Date(value!);
  if (Number.isNaN(d.getTime())) throw invalid(`${name} must be a date and time (ISO 8601)`);
  return d;
}

/** The query string as a filter, or a 400 naming the bad parameter. */
export function parseRequestLogQuery(q: Query): RequestLogFilter {
  const status = text(q.status, 'status');
  if (status !== undefined && !STATUS_CLASSES.includes(status as StatusClass)) throw invalid(`status must be one of ${STATUS_CLASSES.join(', ')}`);
  const method = text(q.method, 'method');
  if (method !== undefined && !/^[A-Za-z]{1,16}$/.test(method)) throw invalid('method must be an HTTP method');
  const before = text(q.before, 'before');
  if (before !== undefined && !/^\d{1,18}$/.test(before)) throw invalid('before must be an entry id');
  const limit = q.limit === undefined || q.limit === '' ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw invalid('limit must be an integer from 1 to 500');
  return {
    service: text(q.service, 'service'),
    status: status as StatusClass | undefined,
    method,
    pathContains: text(q.path, 'path'),
    role: text(q.role, 'role'),
    tenant: text(q.tenant, 'tenant'),
    from: time(q.from, 'from'),
    to: time(q.to, 'to'),
    before,
    limit,
  };
}

export function logRoutes(app: FastifyInstance, ctx: AdminContext): void {
  app.get<{ Querystring: Query }>('/admin/api/logs/requests', async (req, reply) => {
    await ctx.session(req);
    const filter = parseRequestLogQuery(req.query);
    const rows = await requestLogPage(ctx.deps.db, { ...filter, limit: filter.limit + 1 });
    const entries = rows.slice(0, filter.limit);
    return reply.header('cache-control', 'no-store').send({
      entries,
      // The `before` of the next (older) page; null on the last one.
      next: rows.length > filter.limit ? entries[entries.length - 1].id : null,
      kept: ctx.deps.config.requestLog.retentionHours > 0,
    });
  });
}
