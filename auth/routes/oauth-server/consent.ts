/**
 * `POST /oauth/authorizations/:authorization_id/consent` `{action: approve|deny}`
 * (auth.oauth.approveAuthorization / denyAuthorization): the user the request belongs to decides.
 * Approve: a one-time code (kept hashed), the consent remembered for next time, and
 * `{redirect_url}` = redirect_uri?code=…&state=…; deny: redirect_uri?error=access_denied….
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { bodyOf, str } from '../../http.ts';
import { setOAuthAuthorizationStatus, upsertConsent } from '../../store/oauth-server.ts';
import { oauthErrorRedirect } from './authorize.ts';
import { approve, authorizationIdOf, checkOrigin, withPendingAuthorization } from './authorization.ts';
import { OAUTH_SERVER_ERRORS, parseScopes, requireOAuthServer } from './common.ts';

export async function consent(d: AuthDeps, req: FastifyRequest) {
  requireOAuthServer(d);
  checkOrigin(d, req);
  const { user } = await d.currentUser(req);
  const action = str(bodyOf(req).action);
  if (action !== 'approve' && action !== 'deny') throw OAUTH_SERVER_ERRORS.validation("action must be 'approve' or 'deny'");
  const authorizationId = authorizationIdOf(req);
  if (!authorizationId) throw OAUTH_SERVER_ERRORS.validation('authorization_id is required');
  const redirectUrl = await withPendingAuthorization(d, authorizationId, 'authorization request is no longer pending', async (c, a) => {
    if (a.user_id !== user.id) {
      req.log.warn({ authorization_id: a.authorization_id }, 'oauth: authorization belongs to another user');
      throw OAUTH_SERVER_ERRORS.authorizationNotFound();
    }
    if (action === 'deny') {
      await setOAuthAuthorizationStatus(c, a.id, 'denied');
      return oauthErrorRedirect(a.redirect_uri, 'access_denied', 'User denied the request', a.state ?? '');
    }
    const location = await approve(c, a);
    await upsertConsent(c, user.id, a.client_id, [...new Set(parseScopes(a.scope))].join(' '));
    return location;
  });
  return { redirect_url: redirectUrl };
}
