/**
 * `grant_type=authorization_code` of `POST /oauth/token` (GoTrue's handleAuthorizationCodeGrant):
 * the approved request is found by the code's hash and locked, so a code works once — the
 * request is deleted with the exchange. It must be unexpired and the client's; a `redirect_uri`
 * or `resource` sent must be the request's; the PKCE verifier must match the challenge. The
 * session started belongs to the client (client_id and scope in its access tokens); with scope
 * `openid` an ID token comes along.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { counters } from '../../../core/metrics.ts';
import type { AuthDeps } from '../../deps.ts';
import { OAuthError } from '../../errors.ts';
import { str, type Body } from '../../http.ts';
import { audit, createSession, factorsOf, findUserById, identitiesOf, withTransaction } from '../../store/index.ts';
import { deleteOAuthAuthorization, lockOAuthAuthorizationByCode, tagOAuthSession, type OAuthAuthorizationRow, type OAuthClientRow } from '../../store/oauth-server.ts';
import { sessionResponse } from '../../tokens.ts';
import { hashCode, parseScopes, tokenResponse } from './common.ts';
import { idToken } from './id-token.ts';

const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** GoTrue's VerifyPKCE (security.VerifyPKCEChallenge), its messages. */
function pkceProblem(a: OAuthAuthorizationRow, verifier: string): string | undefined {
  if (!a.code_challenge) return undefined;
  if (!verifier) return 'code_verifier is required when PKCE challenge is present';
  const expected = a.code_challenge_method === 'plain' ? verifier : createHash('sha256').update(verifier).digest('base64url');
  return sameText(a.code_challenge, expected) ? undefined : 'code challenge does not match previously saved code verifier';
}

export async function authorizationCodeGrant(d: AuthDeps, req: FastifyRequest, client: OAuthClientRow, body: Body) {
  const code = str(body.code) ?? '';
  if (!code) throw new OAuthError('invalid_request', 'code is required for authorization_code grant');
  const { config } = d;
  const issued = await withTransaction(d.pool, async (c) => {
    const a = await lockOAuthAuthorizationByCode(c, hashCode(code));
    if (!a) throw invalidGrant('Invalid authorization code');
    if (a.expired) throw invalidGrant('Authorization code has expired');
    if (a.client_id !== client.id) throw invalidGrant('Authorization code was not issued for this client');
    const resource = str(body.resource) ?? '';
    if (resource && resource !== (a.resource ?? '')) throw invalidGrant('Authorization code resource does not match the resource parameter');
    const redirectUri = str(body.redirect_uri) ?? '';
    if (redirectUri && redirectUri !== a.redirect_uri) throw invalidGrant('Invalid redirect_uri');
    const pkce = pkceProblem(a, str(body.code_verifier) ?? '');
    if (pkce) throw invalidGrant(`PKCE verification failed: ${pkce}`);
    if (!a.user_id) throw invalidGrant('Authorization code has no associated user');
    const user = await findUserById(c, a.user_id);
    if (!user) throw invalidGrant('User not found for authorization code');
    if (user.banned_until && user.banned_until > new Date()) throw new OAuthError('access_denied', 'User is banned');

    const scopes = parseScopes(a.scope);
    // The ID token first: a key problem must not cost the user the code.
    const id = scopes.includes('openid') ? await idToken(config, user, client.id, scopes, a.nonce) : undefined;
    const started = await createSession(c, user.id, 'oauth_provider/authorization_code', config.auth.refreshTokenTtl, str(req.headers['user-agent']));
    const session = await tagOAuthSession(c, started.session.id, client.id, a.scope);
    await audit(c, 'login', { actor_id: user.id, provider_type: 'oauth_provider_authorization_code', client_id: client.id }, req.ip);
    await deleteOAuthAuthorization(c, a.id);
    const fresh = (await findUserById(c, user.id))!;
    const s = await sessionResponse(config, fresh, await identitiesOf(c, user.id), session, started.refreshToken, await factorsOf(c, user.id));
    return tokenResponse(s, id);
  });
  counters.authSignins.inc();
  return issued;
}
