/**
 * `grant_type=pkce` (exchangeCodeForSession): auth code + code verifier (auth/flow-state.ts) → a
 * session, with the provider's tokens when the flow was an OAuth sign-in.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { exchangeAuthCode } from '../../flow-state.ts';
import { bodyOf, str } from '../../http.ts';
import { findUserById, withTransaction } from '../../store/index.ts';

export async function pkceGrant(d: AuthDeps, req: FastifyRequest) {
  const body = bodyOf(req);
  return withTransaction(d.pool, async (c) => {
    const flow = await exchangeAuthCode(c, str(body.auth_code), str(body.code_verifier));
    const user = await findUserById(c, flow.user_id);
    if (!user) throw AUTH_ERRORS.userNotFound();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    const session = await d.issue(c, user, flow.authentication_method, req);
    return {
      ...session,
      ...(flow.provider_access_token ? { provider_token: flow.provider_access_token } : {}),
      ...(flow.provider_refresh_token ? { provider_refresh_token: flow.provider_refresh_token } : {}),
    };
  });
}
