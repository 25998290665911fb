/**
 * `grant_type=password` (signInWithPassword; also `POST /api/auth/login`): email (or, with an SMS
 * provider, phone) + password → a session; an unknown address costs a bcrypt too, failures count per
 * address, and an unconfirmed or banned user gets GoTrue's refusal.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { verifyPassword } from '../../passwords.ts';
import { counters } from '../../../core/metrics.ts';
import { validatePhone } from '../../phone.ts';
import { audit, findUserByEmail, findUserByPhone, withTransaction } from '../../store/index.ts';

export async function passwordGrant(d: AuthDeps, req: FastifyRequest) {
  const body = bodyOf(req);
  const email = str(body.email)?.trim();
  const password = str(body.password);
  if (email && str(body.phone)) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided on login.');
  if (!email && str(body.phone)) return phonePasswordGrant(d, req, str(body.phone)!, password);
  if (!email || !password) throw AUTH_ERRORS.invalidCredentials();
  d.signinByIp.hit(req.ip);
  const emailKey = email.toLowerCase();
  const user = await findUserByEmail(d.pool, email);
  // An unknown address costs one bcrypt too: response times do not tell who is registered.
  if (!user) await verifyPassword(password, await d.dummyHash());
  if (!user || !(await verifyPassword(password, user.encrypted_password))) {
    d.failuresByEmail.hit(emailKey);
    counters.authSigninFailures.inc();
    await audit(d.pool, 'login_failed', { user_id: user?.id, provider: 'email', reason: 'invalid_credentials' }, req.ip);
    throw AUTH_ERRORS.invalidCredentials();
  }
  d.failuresByEmail.reset(emailKey);
  if (!user.email_confirmed_at) throw AUTH_ERRORS.emailNotConfirmed();
  if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
  return withTransaction(d.pool, (c) => d.issue(c, user, 'password', req));
}

/** signInWithPassword({phone, password}): as by email, the number confirmed by an SMS code first. */
async function phonePasswordGrant(d: AuthDeps, req: FastifyRequest, rawPhone: string, password: string | undefined) {
  if (!d.sms) throw AUTH_ERRORS.phoneLoginsDisabled(422);
  if (!password) throw AUTH_ERRORS.invalidCredentials();
  const phone = validatePhone(rawPhone);
  d.signinByIp.hit(req.ip);
  const user = await findUserByPhone(d.pool, phone);
  if (!user) await verifyPassword(password, await d.dummyHash());
  if (!user || !(await verifyPassword(password, user.encrypted_password))) {
    d.failuresByEmail.hit(phone);
    await audit(d.pool, 'login_failed', { user_id: user?.id, provider: 'phone', reason: 'invalid_credentials' }, req.ip);
    throw AUTH_ERRORS.invalidCredentials();
  }
  d.failuresByEmail.reset(phone);
  if (!user.phone_confirmed_at) throw new AuthError(400, 'phone_not_confirmed', 'Phone not confirmed');
  if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
  return withTransaction(d.pool, (c) => d.issue(c, user, 'password', req));
}
