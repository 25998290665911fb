/**
 * `GET /reauthenticate` (auth.reauthenticate): mails the signed-in user a 6-digit nonce, which
 * `updateUser({password, nonce})` then needs while AUTH_SECURE_PASSWORD_CHANGE=true — GoTrue's
 * Reauthenticate and verifyReauthentication (internal/api/reauthenticate.go). The nonce is a
 * one-time token (auth/otp.ts) valid AUTH_OTP_EXP seconds, single use.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { storedHash, TOKEN_TYPE, tokenHash } from '../otp.ts';
import { audit, takeToken, withTransaction, type Db, type SessionRow, type UserRow } from '../store/index.ts';

const invalidNonce = () => new AuthError(422, 'reauthentication_not_valid', 'Nonce has expired or is invalid');

export async function reauthenticate(d: AuthDeps, req: FastifyRequest) {
  const { user } = await d.currentUser(req);
  if (!user.email && !user.phone) throw AUTH_ERRORS.validation('Reauthentication requires the user to have an email or a phone number');
  if (user.email && !user.email_confirmed_at) throw new AuthError(422, 'email_not_confirmed', 'Please verify your email first.');
  // A phone-only user would get the nonce by SMS; no SMS provider is configured in this build.
  if (!user.email) throw AUTH_ERRORS.phoneProviderUnsupported();
  await withTransaction(d.pool, async (c) => {
    await audit(c, 'user_reauthenticate_requested', { actor_id: user.id }, req.ip);
    await d.mail.send(c, [{ action: 'reauthentication', user_id: user.id, email: user.email!, redirect_to: d.config.auth.siteUrl }]);
  });
  return {};
}

/** Does a password change from this session need a nonce? GoTrue asks for one unless the session signed in within 24 h. */
export function needsNonce(d: AuthDeps, session: SessionRow | undefined): boolean {
  if (!d.config.auth.securePasswordChange) return false;
  return !session || Date.now() > session.created_at.getTime() + 24 * 3600 * 1000;
}

/** Takes the user's reauthentication nonce, or GoTrue's 400/422 when it is missing, wrong or expired. */
export async function checkNonce(db: Db, user: UserRow, nonce: string | undefined): Promise<void> {
  if (!nonce) throw new AuthError(400, 'reauthentication_needed', 'Password update requires reauthentication');
  if (!user.email || !/^\d{6}$/.test(nonce)) throw invalidNonce();
  // Never a verifyOtp type: the nonce only ever answers this check.
  const token = await takeToken(db, storedHash(tokenHash(user.email, nonce)), [TOKEN_TYPE.reauthentication], user.email);
  if (!token || token.expired || token.user_id !== user.id) throw invalidNonce();
}
