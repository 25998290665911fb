/**
 * `grant_type=refresh_token` of `POST /oauth/token`: the refresh of a session a client started,
 * by that client only (GoTrue's client check in RefreshTokenGrant); rotation and reuse detection
 * as for first-party sessions (auth/refresh-rotation.ts) — whose refresh in turn finds
 * no token of an OAuth session (auth/store/sessions.ts lockRefreshToken), so a refresh token of a
 * confidential client is worthless without the client's secret.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS, OAuthError } from '../../errors.ts';
import { str, type Body } from '../../http.ts';
import { factorsOf, findSession, findUserById, identitiesOf, lockRefreshToken, withTransaction } from '../../store/index.ts';
import { nextRefreshToken } from '../../refresh-rotation.ts';
import { sessionClientOfRefreshToken, type OAuthClientRow } from '../../store/oauth-server.ts';
import { sessionResponse } from '../../tokens.ts';
import { tokenResponse } from './common.ts';

export async function oauthRefreshGrant(d: AuthDeps, req: FastifyRequest, client: OAuthClientRow, body: Body) {
  const token = str(body.refresh_token) ?? '';
  if (!token) throw new OAuthError('invalid_request', 'refresh_token is required for refresh_token grant');
  const owner = await sessionClientOfRefreshToken(d.pool, token);
  if (owner === undefined) throw AUTH_ERRORS.refreshNotFound();
  if (owner === null) throw new OAuthError('invalid_client', 'Client authentication not allowed for non-OAuth session');
  if (owner !== client.id) throw new OAuthError('invalid_client', "Client does not match the session's OAuth client");
  const { config } = d;
  const result = await withTransaction(d.pool, async (c) => {
    const rt = await lockRefreshToken(c, token, client.id);
    if (!rt) throw AUTH_ERRORS.refreshNotFound();
    if (rt.expired) throw AUTH_ERRORS.sessionExpired();
    const next = await nextRefreshToken(c, config, rt, req.ip, { client_id: client.id });
    if (next === 'reused') return next;
    const user = await findUserById(c, rt.user_id);
    if (!user) throw AUTH_ERRORS.refreshNotFound();
    if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
    const session = (await findSession(c, rt.session_id))!;
    return tokenResponse(await sessionResponse(config, user, await identitiesOf(c, user.id), session, next, await factorsOf(c, user.id)));
  });
  if (result === 'reused') throw AUTH_ERRORS.refreshReused();
  return result;
}
