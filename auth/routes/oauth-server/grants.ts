/**
 * The signed-in user's grants to OAuth clients (auth.oauth.listGrants / revokeGrant):
 * `GET /user/oauth/grants` lists the active consents with their clients; `DELETE
 * /user/oauth/grants?client_id=` revokes one and ends the user's sessions of that client (204).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { queryOf, str } from '../../http.ts';
import { audit, withTransaction } from '../../store/index.ts';
import { isUuid, listActiveConsents, revokeConsent } from '../../store/oauth-server.ts';
import { clientDetails, OAUTH_SERVER_ERRORS, parseScopes, requireOAuthServer } from './common.ts';

export async function listGrants(d: AuthDeps, req: FastifyRequest) {
  const { user } = await d.currentUser(req);
  requireOAuthServer(d);
  const consents = await listActiveConsents(d.pool, user.id);
  return consents.map((g) => ({ client: clientDetails(g.client), scopes: parseScopes(g.scopes), granted_at: g.granted_at.toISOString() }));
}

export async function revokeGrant(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  const { user } = await d.currentUser(req);
  requireOAuthServer(d);
  const clientId = str(queryOf(req).client_id) ?? '';
  if (!clientId) throw OAUTH_SERVER_ERRORS.validation('client_id query parameter is required');
  if (!isUuid(clientId)) throw OAUTH_SERVER_ERRORS.validation('invalid client_id format');
  const revoked = await withTransaction(d.pool, async (c) => {
    if (!(await revokeConsent(c, user.id, clientId))) return false;
    await audit(c, 'token_revoked', { actor_id: user.id, oauth_client_id: clientId, reason: 'revoke_oauth_grant' }, req.ip);
    return true;
  });
  if (!revoked) throw OAUTH_SERVER_ERRORS.consentNotFound();
  return reply.code(204).send();
}
