/**
 * `GET /admin/oauth/clients` (admin.oauth.listClients): `{clients}` newest first, paginated as
 * GET /admin/users is (`page`, `per_page`, Link and X-Total-Count, which auth-js reads).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { countOAuthClients, listOAuthClients } from '../../store/oauth-server.ts';
import { pagination, paginationLinks } from '../admin.ts';
import { clientJson, requireOAuthServer } from './common.ts';

export async function adminListClients(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  const { page, perPage } = pagination(req);
  const total = await countOAuthClients(d.pool);
  const clients = await listOAuthClients(d.pool, perPage, (page - 1n) * perPage);
  reply.header('link', paginationLinks(req.url, page, perPage, total)).header('x-total-count', String(total));
  return reply.send({ clients: clients.map((c) => clientJson(c)) });
}
