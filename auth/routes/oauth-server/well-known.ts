/**
 * `GET /.well-known/openid-configuration` (OpenID Connect Discovery) and
 * `GET /.well-known/oauth-authorization-server` (RFC 8414; only while the OAuth server is on), one
 * document as GoTrue's WellKnownOpenID serves both: the issuer (the `iss` of our tokens), the
 * endpoints, the signing keys' address and what is supported. `openid` and an ID-token algorithm
 * are offered only with an asymmetric signing key (JWT_SIGNING_KEYS), which ID tokens need.
 */
import type { FastifyReply } from 'fastify';
import { JWKS_CACHE_CONTROL, signerFor } from '../../../config/keys.ts';
import type { AuthDeps } from '../../deps.ts';
import { requireOAuthServer, SUPPORTED_SCOPES } from './common.ts';

const CLAIMS = ['sub', 'aud', 'iss', 'exp', 'iat', 'auth_time', 'nonce', 'email', 'email_verified', 'phone_number', 'phone_number_verified', 'name', 'picture', 'preferred_username', 'updated_at'];

export function discoveryDocument(d: AuthDeps): Record<string, unknown> {
  const issuer = `${d.config.publicUrl.replace(/\/+$/, '')}/auth/v1`;
  const { oauthServer } = d.config.auth;
  const alg = signerFor(d.config).alg;
  const asymmetric = alg !== 'HS256';
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    userinfo_endpoint: `${issuer}/oauth/userinfo`,
    ...(oauthServer.enabled && oauthServer.allowDynamicRegistration && { registration_endpoint: `${issuer}/oauth/clients/register` }),
    scopes_supported: SUPPORTED_SCOPES.filter((s) => asymmetric || s !== 'openid'),
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: asymmetric ? [alg] : [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    claims_supported: CLAIMS,
    code_challenge_methods_supported: ['S256', 'plain'],
  };
}

export async function openidConfiguration(d: AuthDeps, reply: FastifyReply) {
  return reply.header('cache-control', JWKS_CACHE_CONTROL).send(discoveryDocument(d));
}

export async function authorizationServerMetadata(d: AuthDeps, reply: FastifyReply) {
  requireOAuthServer(d);
  return reply.header('cache-control', JWKS_CACHE_CONTROL).send(discoveryDocument(d));
}
