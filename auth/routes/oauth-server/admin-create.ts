/** `POST /admin/oauth/clients` (admin.oauth.createClient): a manually registered client; a confidential one gets its secret, shown this once. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { bodyOf } from '../../http.ts';
import { registerClient } from './register.ts';
import { requireOAuthServer } from './common.ts';

export async function adminCreateClient(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  return reply.code(201).send(await registerClient(d, bodyOf(req), 'manual'));
}
