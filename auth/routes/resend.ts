/**
 * `POST /resend`: the sign-up confirmation again (to an unconfirmed address) or both mails of a
 * pending email change; `{}` whatever the address; a new SMS code for an unconfirmed number or a
 * pending new number (with an SMS provider, else GoTrue's refusals without one).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';
import { challengeOf } from '../flow-state.ts';
import { bodyOf, emailOf, str } from '../http.ts';
import { sendPhoneOtp, validatePhone } from '../phone.ts';
import { findPendingEmailChange, findUserByEmail, findUserByPhone, findUserByPhoneChange, withTransaction } from '../store/index.ts';
import { redirectOf, sendAuthEmail, sendEmailChange } from './mail.ts';

export async function resend(d: AuthDeps, req: FastifyRequest) {
  d.otpByIp.hit(req.ip);
  const body = bodyOf(req);
  const type = str(body.type);
  if (type === 'sms' || type === 'phone_change') {
    // GoTrue without an SMS provider: its shape checks, then phone logins are off; by email there
    // is never a pending phone change to resend.
    const phone = str(body.phone);
    if (type === 'sms' && !phone) throw AUTH_ERRORS.validation('Type provided requires a phone number');
    if (phone && str(body.email)) throw AUTH_ERRORS.validation('Only an email address or phone number should be provided.');
    if (phone && d.sms) return resendPhoneCode(d, phone, type);
    if (phone) throw AUTH_ERRORS.phoneLoginsDisabled();
    if (!str(body.email)) throw AUTH_ERRORS.validation('Missing email address or phone number');
    emailOf(body);
    return {};
  }
  if (type !== 'signup' && type !== 'email_change') throw AUTH_ERRORS.validation('Missing one of these types: signup, email_change, sms, phone_change');
  const email = emailOf(body)!;
  const challenge = challengeOf(body);
  const redirectTo = redirectOf(d, req, body);
  await withTransaction(d.pool, async (c) => {
    if (type === 'signup') {
      const user = await findUserByEmail(c, email);
      if (user && !user.email_confirmed_at) await sendAuthEmail(d, c, { user, action: 'signup', email, redirectTo, challenge });
      return;
    }
    const pending = await findPendingEmailChange(c, email);
    if (pending) await sendEmailChange(d, c, pending, pending.email_change, redirectTo, challenge);
  });
  return {};
}

/**
 * resend({type: 'sms', phone}): a new code for a number not confirmed yet; resend({type:
 * 'phone_change', phone}): a new code to the user whose pending new number it is. `{}` for any
 * other number (GoTrue's resend.go: FindUserByPhoneAndAudience / FindUserByPhoneChangeAndAudience,
 * not found → 200 `{}`).
 */
async function resendPhoneCode(d: AuthDeps, raw: string, kind: 'sms' | 'phone_change') {
  const phone = validatePhone(raw);
  return withTransaction(d.pool, async (c) => {
    const user = kind === 'sms' ? await findUserByPhone(c, phone) : await findUserByPhoneChange(c, phone);
    if (!user || (kind === 'sms' && user.phone_confirmed_at)) return {};
    return { message_id: await sendPhoneOtp(d, c, user, phone, kind) };
  });
}
