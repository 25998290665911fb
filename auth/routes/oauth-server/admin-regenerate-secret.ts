/** `POST /admin/oauth/clients/:client_id/regenerate_secret` (admin.oauth.regenerateClientSecret): a new secret, shown once; the old one stops working. */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { setOAuthClientSecret } from '../../store/oauth-server.ts';
import { clientJson, clientOfPath, hashClientSecret, newClientSecret, OAUTH_SERVER_ERRORS, requireOAuthServer } from './common.ts';

export async function adminRegenerateSecret(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  requireOAuthServer(d);
  const client = await clientOfPath(d, req.params);
  if (client.client_type !== 'confidential') throw OAUTH_SERVER_ERRORS.validation('Cannot regenerate secret for public client');
  const secret = newClientSecret();
  const updated = await setOAuthClientSecret(d.pool, client.id, hashClientSecret(secret));
  if (!updated) throw OAUTH_SERVER_ERRORS.clientNotFound();
  return clientJson(updated, secret);
}
