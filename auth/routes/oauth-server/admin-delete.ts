/** `DELETE /admin/oauth/clients/:client_id` (admin.oauth.deleteClient): 204; its sessions and pending codes end with it. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { withTransaction } from '../../store/index.ts';
import { deleteOAuthClient } from '../../store/oauth-server.ts';
import { clientOfPath, requireOAuthServer } from './common.ts';

export async function adminDeleteClient(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  const client = await clientOfPath(d, req.params);
  await withTransaction(d.pool, (c) => deleteOAuthClient(c, client.id));
  return reply.code(204).send();
}
