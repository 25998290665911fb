/**
 * The OAuth 2.1 / OpenID Connect server's routes (GoTrue's api.go, internal/api/oauthserver/):
 * the admin client API, dynamic registration, the authorization endpoint and consent, the token
 * endpoint, userinfo, the user's grants and the discovery documents. All are there whether the
 * feature is on or not: off, they answer GoTrue's 404 feature_disabled (openid-configuration
 * aside, which GoTrue always serves). Registered in a scope of its own, which also reads
 * form-encoded bodies (what OAuth clients send the token endpoint).
 */
import type { FastifyInstance } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { addFormParser } from '../../http.ts';
import { adminCreateClient } from './admin-create.ts';
import { adminDeleteClient } from './admin-delete.ts';
import { adminGetClient } from './admin-get.ts';
import { adminListClients } from './admin-list.ts';
import { adminRegenerateSecret } from './admin-regenerate-secret.ts';
import { adminUpdateClient } from './admin-update.ts';
import { getAuthorization } from './authorization.ts';
import { oauthAuthorize } from './authorize.ts';
import { consent } from './consent.ts';
import { listGrants, revokeGrant } from './grants.ts';
import { dynamicRegister } from './register.ts';
import { oauthToken } from './token.ts';
import { userinfo } from './userinfo.ts';
import { authorizationServerMetadata, openidConfiguration } from './well-known.ts';

export function registerOAuthServerRoutes(app: FastifyInstance, d: AuthDeps): void {
  app.register(async (scope) => {
    addFormParser(scope);

    scope.get('/.well-known/openid-configuration', (_req, reply) => openidConfiguration(d, reply));
    scope.get('/.well-known/oauth-authorization-server', (_req, reply) => authorizationServerMetadata(d, reply));

    scope.post('/admin/oauth/clients', (req, reply) => adminCreateClient(d, req, reply));
    scope.get('/admin/oauth/clients', (req, reply) => adminListClients(d, req, reply));
    scope.get('/admin/oauth/clients/:client_id', (req) => adminGetClient(d, req));
    scope.put('/admin/oauth/clients/:client_id', (req) => adminUpdateClient(d, req));
    scope.delete('/admin/oauth/clients/:client_id', (req, reply) => adminDeleteClient(d, req, reply));
    scope.post('/admin/oauth/clients/:client_id/regenerate_secret', (req) => adminRegenerateSecret(d, req));

    scope.post('/oauth/clients/register', (req, reply) => dynamicRegister(d, req, reply));
    scope.get('/oauth/authorize', (req, reply) => oauthAuthorize(d, req, reply));
    scope.get('/oauth/authorizations/:authorization_id', (req) => getAuthorization(d, req));
    scope.post('/oauth/authorizations/:authorization_id/consent', (req) => consent(d, req));
    scope.post('/oauth/token', (req) => oauthToken(d, req));
    scope.get('/oauth/userinfo', (req) => userinfo(d, req));

    scope.get('/user/oauth/grants', (req) => listGrants(d, req));
    scope.delete('/user/oauth/grants', (req, reply) => revokeGrant(d, req, reply));
  });
}
