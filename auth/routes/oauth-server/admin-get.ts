/** `GET /admin/oauth/clients/:client_id` (admin.oauth.getClient); never the secret. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { clientJson, clientOfPath, requireOAuthServer } from './common.ts';

export async function adminGetClient(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  return clientJson(await clientOfPath(d, req.params));
}
