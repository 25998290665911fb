/**
 * `GET /oauth/authorizations/:authorization_id` (auth.oauth.getAuthorizationDetails): what the
 * consent page shows the signed-in user — the client, the scopes, where the browser goes back.
 * The first user to look at a pending request becomes its user; anyone else is told it does not
 * exist. When that user's consent to the client already covers the scopes, the request is
 * approved here and the answer is `{redirect_url}` with the code (GoTrue's auto-approve).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { AuthDeps } from '../../deps.ts';
import { isAllowedRedirect, withQuery } from '../../redirects.ts';
import { withTransaction } from '../../store/index.ts';
import {
  approveOAuthAuthorization,
  findActiveConsent,
  findOAuthClient,
  lockOAuthAuthorization,
  setOAuthAuthorizationStatus,
  setOAuthAuthorizationUser,
  type OAuthAuthorizationRow,
} from '../../store/oauth-server.ts';
import { clientDetails, hasAllScopes, hashCode, OAUTH_SERVER_ERRORS, parseScopes, requireOAuthServer } from './common.ts';

/** GoTrue's validateRequestOrigin: a browser's Origin must be one redirects may go to (SITE_URL, the allow list). */
export function checkOrigin(d: AuthDeps, req: FastifyRequest): void {
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== '' && !isAllowedRedirect(d.config, origin)) {
    throw OAUTH_SERVER_ERRORS.validation('unauthorized request origin');
  }
}

/**
 * Runs `fn` on the locked pending request; an expired one is marked so (committed) and, like an
 * unknown one, answered 404. `fn` returns what the route answers.
 */
export async function withPendingAuthorization<T>(
  d: AuthDeps,
  authorizationId: string,
  notPending: string,
  fn: (c: pg.PoolClient, a: OAuthAuthorizationRow) => Promise<T>,
): Promise<T> {
  const outcome = await withTransaction(d.pool, async (c) => {
    const a = await lockOAuthAuthorization(c, authorizationId);
    if (!a) throw OAUTH_SERVER_ERRORS.authorizationNotFound();
    if (a.expired) {
      if (a.status === 'pending') await setOAuthAuthorizationStatus(c, a.id, 'expired');
      return { expired: true as const };
    }
    if (a.status !== 'pending') throw OAUTH_SERVER_ERRORS.validation(notPending);
    return { value: await fn(c, a) };
  });
  if ('expired' in outcome) throw OAUTH_SERVER_ERRORS.authorizationNotFound();
  return outcome.value;
}

/** Approves the request with a fresh code and returns where the browser goes: redirect_uri?code=…&state=… */
export async function approve(c: pg.PoolClient, a: OAuthAuthorizationRow): Promise<string> {
  const code = randomUUID();
  await approveOAuthAuthorization(c, a.id, hashCode(code));
  return withQuery(a.redirect_uri, { code, ...(a.state && { state: a.state }) });
}

export const authorizationIdOf = (req: FastifyRequest) => (req.params as { authorization_id?: string }).authorization_id ?? '';

export async function getAuthorization(d: AuthDeps, req: FastifyRequest) {
  requireOAuthServer(d);
  checkOrigin(d, req);
  const { user } = await d.currentUser(req);
  const authorizationId = authorizationIdOf(req);
  if (!authorizationId) throw OAUTH_SERVER_ERRORS.validation('authorization_id is required');
  const outcome = await withPendingAuthorization(d, authorizationId, 'authorization request cannot be processed', async (c, a) => {
    if (a.user_id === null) {
      await setOAuthAuthorizationUser(c, a.id, user.id);
      const consent = await findActiveConsent(c, user.id, a.client_id);
      if (consent && hasAllScopes(parseScopes(consent.scopes), parseScopes(a.scope))) return { redirect_url: await approve(c, a) };
    } else if (a.user_id !== user.id) {
      req.log.warn({ authorization_id: a.authorization_id }, 'oauth: authorization belongs to another user');
      throw OAUTH_SERVER_ERRORS.authorizationNotFound();
    }
    return { authorization: a };
  });
  if ('redirect_url' in outcome) return outcome;
  const a = outcome.authorization;
  const client = await findOAuthClient(d.pool, a.client_id);
  if (!client) throw OAUTH_SERVER_ERRORS.authorizationNotFound();
  const userJson: Record<string, unknown> = { id: user.id, ...(user.email && { email: user.email }) };
  return { authorization_id: a.authorization_id, redirect_uri: a.redirect_uri, client: clientDetails(client), user: userJson, scope: a.scope };
}
