/** `PUT /admin/oauth/clients/:client_id` (admin.oauth.updateClient): only the fields sent change. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { bodyOf } from '../../http.ts';
import { updateOAuthClient } from '../../store/oauth-server.ts';
import { updateParams } from './client-params.ts';
import { clientJson, clientOfPath, OAUTH_SERVER_ERRORS, requireOAuthServer } from './common.ts';

export async function adminUpdateClient(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  const client = await clientOfPath(d, req.params);
  const changes = updateParams(bodyOf(req), client.client_type);
  if (Object.keys(changes).length === 0) throw OAUTH_SERVER_ERRORS.validation('No fields provided for update');
  const updated = await updateOAuthClient(d.pool, client.id, changes);
  if (!updated) throw OAUTH_SERVER_ERRORS.clientNotFound();
  return clientJson(updated);
}
