/** `GET /admin/inbox?email=&limit=` and `DELETE /admin/inbox`: the dev inbox (mails when no SMTP_HOST is set), admin only. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { queryOf, str } from '../http.ts';
import { clearInbox as clearInboxRows, readInbox } from '../store/index.ts';

export async function inbox(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const q = queryOf(req);
  const limit = Math.min(Math.max(Number(q.limit) || 50, 1), 500);
  return { messages: await readInbox(d.pool, str(q.email)?.trim() || undefined, limit) };
}

export async function clearInbox(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  await clearInboxRows(d.pool);
  return {};
}
