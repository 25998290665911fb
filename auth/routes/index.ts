/**
 * Every auth endpoint, in one table (as GoTrue's api.go lists its routes): each handler lives in
 * its own file under auth/routes/, returns what the client gets (or replies itself, for
 * redirects and 204s) and throws an AuthError for a refusal, which the service's error handler
 * renders in GoTrue's shape (auth/service.ts, auth/errors.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { adminCreate, adminDelete, adminGet, adminList, adminUpdate } from './admin.ts';
import { adminDeleteFactor, adminListFactors } from './factors/admin.ts';
import { challenge } from './factors/challenge.ts';
import { enroll } from './factors/enroll.ts';
import { unenroll } from './factors/unenroll.ts';
import { verify } from './factors/verify.ts';
import { generateLink } from './generate-link.ts';
import { clearInbox, inbox } from './inbox.ts';
import { deleteIdentity, linkIdentity } from './identities.ts';
import { invite } from './invite.ts';
import { jwks } from './jwks.ts';
import { logout } from './logout.ts';
import { registerOAuthServerRoutes } from './oauth-server/index.ts';
import { authorize, callback } from './oauth.ts';
import { otp } from './otp.ts';
import { reauthenticate } from './reauthenticate.ts';
import { authenticationOptions, authenticationVerify } from './passkeys/authentication.ts';
import { adminDeletePasskey, adminListPasskeys, listPasskeys, removePasskey, updatePasskey } from './passkeys/manage.ts';
import { registrationOptions, registrationVerify } from './passkeys/registration.ts';
import { recover } from './recover.ts';
import { resend } from './resend.ts';
import { settings } from './settings.ts';
import { signup } from './signup.ts';
import { samlAcs, samlMetadata, singleSignOn } from './sso.ts';
import { adminCreateSsoProvider, adminDeleteSsoProvider, adminGetSsoProvider, adminListSsoProviders, adminUpdateSsoProvider } from './sso-admin.ts';
import { registerTenantRoutes } from './tenants/index.ts';
import { passwordGrant } from './token/password.ts';
import { refreshGrant } from './token/refresh.ts';
import { token } from './token/index.ts';
import { getUser, updateUser } from './user.ts';
import { addFormParser } from '../http.ts';
import { verifyLink, verifyPost } from './verify.ts';

export function registerRoutes(app: FastifyInstance, d: AuthDeps): void {
  app.get('/health', async () => ({ status: 'up' }));
  app.get('/settings', () => settings(d));
  app.get('/.well-known/jwks.json', (_req, reply) => jwks(d, reply));
  registerOAuthServerRoutes(app, d);

  app.post('/signup', (req) => signup(d, req));
  app.post('/token', (req) => token(d, req));
  app.get('/user', (req) => getUser(d, req));
  app.put('/user', (req) => updateUser(d, req));
  app.post('/logout', (req, reply) => logout(d, req, reply));
  app.get('/reauthenticate', (req) => reauthenticate(d, req));

  app.get('/admin/users', (req, reply) => adminList(d, req, reply));
  app.post('/admin/users', (req) => adminCreate(d, req));
  app.get('/admin/users/:id', (req) => adminGet(d, req));
  app.put('/admin/users/:id', (req) => adminUpdate(d, req));
  app.delete('/admin/users/:id', (req) => adminDelete(d, req));
  app.get('/admin/users/:id/factors', (req) => adminListFactors(d, req));
  app.delete('/admin/users/:id/factors/:factor_id', (req) => adminDeleteFactor(d, req));

  app.get('/admin/users/:id/passkeys', (req) => adminListPasskeys(d, req));
  app.delete('/admin/users/:id/passkeys/:passkey_id', (req, reply) => adminDeletePasskey(d, req, reply));

  app.post('/passkeys/registration/options', (req) => registrationOptions(d, req));
  app.post('/passkeys/registration/verify', (req) => registrationVerify(d, req));
  app.post('/passkeys/authentication/options', (req) => authenticationOptions(d, req));
  app.post('/passkeys/authentication/verify', (req) => authenticationVerify(d, req));
  app.get('/passkeys', (req) => listPasskeys(d, req));
  app.patch('/passkeys/:passkey_id', (req) => updatePasskey(d, req));
  app.delete('/passkeys/:passkey_id', (req, reply) => removePasskey(d, req, reply));

  app.post('/factors', (req) => enroll(d, req));
  app.post('/factors/:factor_id/challenge', (req) => challenge(d, req));
  app.post('/factors/:factor_id/verify', (req) => verify(d, req));
  app.delete('/factors/:factor_id', (req) => unenroll(d, req));

  app.post('/otp', (req) => otp(d, req));
  app.post('/magiclink', (req) => otp(d, req));
  app.post('/recover', (req) => recover(d, req));
  app.post('/resend', (req) => resend(d, req));
  app.post('/invite', (req) => invite(d, req));
  app.post('/admin/generate_link', (req) => generateLink(d, req));
  app.get('/admin/inbox', (req) => inbox(d, req));
  app.delete('/admin/inbox', (req) => clearInbox(d, req));

  app.get('/verify', (req, reply) => verifyLink(d, req, reply));
  app.post('/verify', (req) => verifyPost(d, req));

  app.get('/authorize', (req, reply) => authorize(d, req, reply));
  app.get('/callback', (req, reply) => callback(d, req, reply));

  app.post('/sso', (req, reply) => singleSignOn(d, req, reply));
  app.get('/sso/saml/metadata', (req, reply) => samlMetadata(d, req, reply));
  app.register(async (scope) => {
    addFormParser(scope);
    scope.post('/sso/saml/acs', (req, reply) => samlAcs(d, req, reply));
  });
  app.get('/admin/sso/providers', (req) => adminListSsoProviders(d, req));
  app.post('/admin/sso/providers', (req, reply) => adminCreateSsoProvider(d, req, reply));
  app.get('/admin/sso/providers/:idp_id', (req) => adminGetSsoProvider(d, req));
  app.put('/admin/sso/providers/:idp_id', (req) => adminUpdateSsoProvider(d, req));
  app.delete('/admin/sso/providers/:idp_id', (req) => adminDeleteSsoProvider(d, req));
  registerTenantRoutes(app, d);
  app.get('/user/identities/authorize', (req, reply) => linkIdentity(d, req, reply));
  app.delete('/user/identities/:identity_id', (req) => deleteIdentity(d, req));

  // Short routes of the product spec: same logic, same JSON.
  app.post('/api/auth/signup', (req) => signup(d, req));
  app.post('/api/auth/login', (req) => passwordGrant(d, req));
  app.post('/api/auth/refresh', (req) => refreshGrant(d, req));
  app.post('/api/auth/logout', (req, reply) => logout(d, req, reply));
  app.post('/api/auth/reset', (req) => recover(d, req));
  app.get('/api/auth/me', (req) => getUser(d, req));
}
