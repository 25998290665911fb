/**
 * `POST /oauth/token` (RFC 6749 §3.2; form-encoded or JSON): the client authenticates
 * (client-auth.ts), then `authorization_code` (token-code.ts) or `refresh_token`
 * (token-refresh.ts), if the client registered that grant. Refusals are OAuth errors
 * `{error, error_description}` as GoTrue's; the answer is the OAuth token response, without the
 * user object of auth-js's own sessions. No per-address limit here (GoTrue has none on this route):
 * one app server exchanges codes for all its users, and every call is client-authenticated.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { OAuthError } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { authenticateClient } from './client-auth.ts';
import { requireOAuthServer } from './common.ts';
import { authorizationCodeGrant } from './token-code.ts';
import { oauthRefreshGrant } from './token-refresh.ts';

export async function oauthToken(d: AuthDeps, req: FastifyRequest) {
  requireOAuthServer(d);
  const body = bodyOf(req);
  const client = await authenticateClient(d, req, body);
  const grant = str(body.grant_type) ?? '';
  if (!grant) throw new OAuthError('invalid_request', 'grant_type is required');
  if (!client.grant_types.includes(grant)) throw new OAuthError('unsupported_grant_type', `Client is not allowed to use grant type: ${grant}`);
  if (grant === 'authorization_code') return authorizationCodeGrant(d, req, client, body);
  if (grant === 'refresh_token') return oauthRefreshGrant(d, req, client, body);
  throw new OAuthError('unsupported_grant_type', `Unsupported grant type: ${grant}`);
}

