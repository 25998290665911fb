/**
 * `POST /oauth/clients/register`: OAuth 2.0 Dynamic Client Registration (RFC 7591), open to anyone
 * while AUTH_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION is on (rate-limited per address like
 * sign-ups); the admin API registers through the same function.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { bodyOf, type Body } from '../../http.ts';
import { insertOAuthClient } from '../../store/oauth-server.ts';
import { registrationParams } from './client-params.ts';
import { clientJson, hashClientSecret, newClientSecret, OAUTH_SERVER_ERRORS, requireOAuthServer } from './common.ts';

export async function registerClient(d: AuthDeps, body: Body, registrationType: 'dynamic' | 'manual') {
  const params = registrationParams(body, registrationType);
  const secret = params.client_type === 'confidential' ? newClientSecret() : undefined;
  const client = await insertOAuthClient(d.pool, { ...params, client_secret_hash: secret ? hashClientSecret(secret) : null });
  return clientJson(client, secret);
}

export async function dynamicRegister(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requireOAuthServer(d);
  if (!d.config.auth.oauthServer.allowDynamicRegistration) throw OAUTH_SERVER_ERRORS.dynamicRegistrationDisabled();
  d.signupByIp.hit(req.ip);
  return reply.code(201).send(await registerClient(d, bodyOf(req), 'dynamic'));
}
