/**
 * `grant_type=password` (signInWithPassword; also `POST /api/auth/login`): email + password → a
 * session. Phone logins are off; an unknown address costs a bcrypt too, failures count per
 * address, and an unconfirmed or banned user gets GoTrue's refusal.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { verifyPassword } from '../../passwords.ts';
import { findUserByEmail, withTransaction } from '../../store/index.ts';
import { counters } from '../../../core/metrics.ts';

export async function passwordGrant(d: AuthDeps, req: FastifyRequest) {
  const body = bodyOf(req);
  const email = str(body.email)?.trim();
  const password = str(body.password);
  if (email && str(body.phone)) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided on login.');
  if (!email && str(body.phone)) throw AUTH_ERRORS.phoneLoginsDisabled(422);
  if (!email || !password) throw AUTH_ERRORS.invalidCredentials();
  d.signinByIp.hit(req.ip);
  const emailKey = email.toLowerCase();
  const user = await findUserByEmail(d.pool, email);
  // An unknown address costs one bcrypt too: response times do not tell who is registered.
  if (!user) await verifyPassword(password, await d.dummyHash());
  if (!user || !(await verifyPassword(password, user.encrypted_password))) {
    d.failuresByEmail.hit(emailKey);
    counters.authSigninFailures.inc();
    throw AUTH_ERRORS.invalidCredentials();
  }
  d.failuresByEmail.reset(emailKey);
  if (!user.email_confirmed_at) throw AUTH_ERRORS.emailNotConfirmed();
  if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
  return withTransaction(d.pool, (c) => d.issue(c, user, 'password', req));
}
