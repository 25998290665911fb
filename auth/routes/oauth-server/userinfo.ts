/**
 * `GET /oauth/userinfo` (OpenID Connect Core §5.3, GoTrue's OAuthUserInfo): the signed-in user as
 * the scopes of the access token's session allow — `sub` always; email, profile and phone claims
 * with those scopes. A first-party session has no scopes and sees `sub` only.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { findSession } from '../../store/index.ts';
import { parseScopes, requireOAuthServer } from './common.ts';
import { profileClaims } from './id-token.ts';

export async function userinfo(d: AuthDeps, req: FastifyRequest) {
  requireOAuthServer(d);
  const { user, claims } = await d.currentUser(req);
  const info: Record<string, unknown> = { sub: user.id };
  const session = typeof claims.session_id === 'string' ? await findSession(d.pool, claims.session_id) : undefined;
  const scopes = parseScopes(session?.scopes ?? '');
  if (scopes.includes('email')) {
    if (user.email) info.email = user.email;
    if (user.email_confirmed_at) info.email_verified = true;
  }
  if (scopes.includes('profile')) {
    Object.assign(info, profileClaims(user));
    info.user_metadata = user.raw_user_meta_data;
  }
  if (scopes.includes('phone')) {
    if (user.phone) info.phone = user.phone;
    if (user.phone_confirmed_at) info.phone_verified = true;
  }
  return info;
}
