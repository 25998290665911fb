/**
 * `GET /oauth/authorize`: where a third-party app sends the browser (RFC 6749 §4.1, OAuth 2.1).
 * As GoTrue's OAuthServerAuthorize: an unknown client or a redirect_uri the client did not
 * register (exact string match) is answered here, never redirected; any other problem goes back
 * to the app's redirect_uri as `error=invalid_request`. PKCE is required of every client. A valid
 * request is stored pending and the browser goes to the consent page of the project's app
 * (SITE_URL + AUTH_OAUTH_SERVER_AUTHORIZATION_PATH?authorization_id=…), where the signed-in user
 * approves or denies through auth-js (auth.oauth.*; a consent given before is applied there).
 */
import { randomInt } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { signerFor } from '../../../config/keys.ts';
import type { AuthDeps } from '../../deps.ts';
import { AuthError } from '../../errors.ts';
import { withQuery } from '../../redirects.ts';
import { findOAuthClient, insertOAuthAuthorization, isUuid } from '../../store/oauth-server.ts';
import { DEFAULT_SCOPE, OAUTH_SERVER_ERRORS, parseScopes, requireOAuthServer, SUPPORTED_SCOPES } from './common.ts';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** GoTrue's crypto.SecureAlphanumeric(32). */
const newAuthorizationId = () => Array.from({ length: 32 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');

/** The redirect of an OAuth error to the app (GoTrue's buildErrorRedirectURL). */
export function oauthErrorRedirect(redirectUri: string, error: string, description: string, state: string): string {
  return withQuery(redirectUri, { error, error_description: description, ...(state && { state }) });
}

function resourceProblem(resource: string): string | undefined {
  if (!resource) return undefined;
  let u: URL;
  try {
    u = new URL(resource);
  } catch {
    return 'resource must be an absolute URI';
  }
  if (u.hash || resource.includes('#')) return 'resource must not include a fragment component';
  if (u.search) return 'resource must not include a query component';
  return undefined;
}

/** The problem with the parameters after client and redirect_uri, as GoTrue words it; undefined when there is none. */
function requestProblem(d: AuthDeps, q: URLSearchParams): string | undefined {
  const responseType = q.get('response_type') || 'code';
  if (responseType !== 'code') return 'only response_type=code is supported';
  if ((q.get('scope') ?? '').length > 4096) return 'scope must be at most 4096 characters';
  const scopes = parseScopes(q.get('scope') || DEFAULT_SCOPE);
  if (scopes.length === 0) return 'scope parameter cannot be empty';
  const unsupported = scopes.find((s) => !(SUPPORTED_SCOPES as readonly string[]).includes(s));
  if (unsupported) return `unsupported scope: ${unsupported}`;
  // ID tokens are signed with the project's asymmetric key (GoTrue signs none with HS256).
  if (scopes.includes('openid') && signerFor(d.config).alg === 'HS256') return 'unsupported scope: openid (ID tokens need JWT_SIGNING_KEYS)';
  if ((q.get('resource') ?? '').length > 2048) return 'resource must be at most 2048 characters';
  const resource = resourceProblem(q.get('resource') ?? '');
  if (resource) return resource;
  const challenge = q.get('code_challenge') ?? '';
  const method = (q.get('code_challenge_method') ?? '').toLowerCase();
  if (!challenge || !method) return 'PKCE flow requires both code_challenge and code_challenge_method';
  if (method !== 's256' && method !== 'plain') return "code_challenge_method must be 'S256' or 'plain'";
  if (challenge.length < 43 || challenge.length > 128) return 'code_challenge must be between 43 and 128 characters';
  const nonce = q.get('nonce') ?? '';
  if (nonce.length > 255) return 'nonce must be at most 255 characters';
  if ((q.get('state') ?? '').length > 4096) return 'state must be at most 4096 characters';
  return undefined;
}

const found = (reply: FastifyReply, location: string) => reply.code(302).header('location', location).header('cache-control', 'no-store').send();

export async function oauthAuthorize(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requireOAuthServer(d);
  const q = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
  const clientId = q.get('client_id') ?? '';
  const redirectUri = q.get('redirect_uri') ?? '';
  if (!clientId) throw OAUTH_SERVER_ERRORS.validation('client_id is required');
  if (!redirectUri) throw OAUTH_SERVER_ERRORS.validation('redirect_uri is required');
  if (!isUuid(clientId)) throw new AuthError(400, 'oauth_client_not_found', 'invalid client_id format');
  const client = await findOAuthClient(d.pool, clientId);
  if (!client) throw new AuthError(400, 'oauth_client_not_found', 'invalid client_id');
  if (!client.redirect_uris.includes(redirectUri)) throw OAUTH_SERVER_ERRORS.validation('invalid redirect_uri');

  const state = q.get('state') ?? '';
  const problem = requestProblem(d, q);
  if (problem) return found(reply, oauthErrorRedirect(redirectUri, 'invalid_request', problem, state));

  const { oauthServer, siteUrl } = d.config.auth;
  const authorizationId = newAuthorizationId();
  await insertOAuthAuthorization(d.pool, {
    authorizationId,
    clientId: client.id,
    redirectUri,
    scope: q.get('scope') || DEFAULT_SCOPE,
    state: state || null,
    resource: q.get('resource') || null,
    codeChallenge: q.get('code_challenge')!,
    codeChallengeMethod: q.get('code_challenge_method')!.toLowerCase() as 's256' | 'plain',
    nonce: q.get('nonce') || null,
    ttlSeconds: oauthServer.authorizationTtl,
  });
  const path = oauthServer.authorizationPath.startsWith('/') ? oauthServer.authorizationPath : `/${oauthServer.authorizationPath}`;
  return found(reply, `${siteUrl.replace(/\/+$/, '')}${path}?authorization_id=${authorizationId}`);
}
