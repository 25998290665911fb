/**
 * `POST /passkeys/authentication/options` and `/verify` (auth.passkey.startAuthentication /
 * verifyAuthentication): sign-in with a discoverable credential — options naming no credential,
 * then the assertion's credential found, its signature and counter checked (auth/webauthn.ts),
 * and its user signed in with amr `passkey` (GoTrue's passkey_authentication.go).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { audit, createPasskeyChallenge, findPasskeyByCredentialId, findUserById, takePasskeyChallenge, touchPasskey, withTransaction } from '../../store/index.ts';
import { requestOptions, verifyAssertion, type WebauthnSession } from '../../webauthn.ts';
import { ceremonyAnswer, challengeExpired, challengeNotFound, requirePasskeys, verificationFailed } from './shared.ts';

export async function authenticationOptions(d: AuthDeps, req: FastifyRequest) {
  requirePasskeys(d);
  d.signinByIp.hit(req.ip);
  const { options, session } = await requestOptions(d.config.auth.webauthn);
  const challenge = await createPasskeyChallenge(d.pool, null, 'authentication', session, d.config.auth.passkey.challengeExpiry);
  return { challenge_id: challenge.id, options, expires_at: challenge.expiresAt };
}

export async function authenticationVerify(d: AuthDeps, req: FastifyRequest) {
  requirePasskeys(d);
  const { challengeId, credential } = ceremonyAnswer(req);
  const taken = await takePasskeyChallenge(d.pool, challengeId, 'authentication', null);
  if (!taken) throw challengeNotFound();
  if (taken.expired) throw challengeExpired();
  const passkey = typeof credential.id === 'string' ? await findPasskeyByCredentialId(d.pool, credential.id) : undefined;
  if (!passkey) throw verificationFailed();
  const stored = { id: passkey.credential_id, public_key: passkey.public_key, counter: Number(passkey.sign_count), transports: passkey.transports };
  const counter = await verifyAssertion(d.config.auth.webauthn, taken.session_data as unknown as WebauthnSession, stored, credential).catch((err: Error) => {
    req.log.info({ err: err.message }, 'auth: passkey assertion refused');
    throw verificationFailed();
  });
  // The user handle, when the authenticator gives one, must name the credential's user.
  const handle = (credential.response as Record<string, unknown> | undefined)?.userHandle;
  if (typeof handle === 'string' && handle && Buffer.from(handle, 'base64url').toString() !== passkey.user_id) {
    throw AUTH_ERRORS.validation('Invalid user handle in assertion');
  }
  const user = await findUserById(d.pool, passkey.user_id);
  if (!user) throw verificationFailed();
  if (user.email && !user.email_confirmed_at) throw new AuthError(403, 'email_not_confirmed', 'Email not confirmed');
  if (user.phone && !user.phone_confirmed_at) throw new AuthError(403, 'phone_not_confirmed', 'Phone not confirmed');
  if (user.banned_until && user.banned_until > new Date()) throw new AuthError(403, 'user_banned', 'User is banned');
  return withTransaction(d.pool, async (c) => {
    await touchPasskey(c, passkey.id, counter);
    await audit(c, 'login', { actor_id: user.id, passkey_id: passkey.id }, req.ip);
    return d.issue(c, user, 'passkey', req);
  });
}
