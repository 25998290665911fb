/**
 * `POST /otp` and `POST /magiclink` (signInWithOtp): a magic link + 6-digit code by mail,
 * creating the user unless `create_user: false`; an unconfirmed address gets the sign-up
 * confirmation instead. Unknown and known addresses get the same `{}`.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { challengeOf } from '../flow-state.ts';
import { bodyOf, emailOf, obj, str, type Body } from '../http.ts';
import type { EmailAction } from '../otp.ts';
import { sendPhoneOtp, validatePhone } from '../phone.ts';
import { createUser, findUserByEmail, findUserByPhone, withTransaction } from '../store/index.ts';
import { redirectOf, sendAuthEmail } from './mail.ts';

export async function otp(d: AuthDeps, req: FastifyRequest) {
  const { config } = d;
  d.otpByIp.hit(req.ip);
  const body = bodyOf(req);
  if (body.phone !== undefined && body.email === undefined) return phoneOtp(d, req, body);
  const email = emailOf(body)!;
  const challenge = challengeOf(body);
  const redirectTo = redirectOf(d, req, body);
  const tenantId = await d.tenantFromApiKey(req);
  await withTransaction(d.pool, async (c) => {
    let user = await findUserByEmail(c, email);
    if (!user) {
      if (body.create_user === false) throw new AuthError(422, 'otp_disabled', 'Signups not allowed for otp');
      if (config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
      d.signupByIp.hit(req.ip);
      user = await createUser(c, {
        email,
        confirmed: false,
        userMetadata: obj(body.data),
        appMetadata: { provider: 'email', providers: ['email'] },
        isAnonymous: false,
        tenantId,
      });
    }
    // An unconfirmed address gets the sign-up confirmation; its code works with type "email" too.
    const action: EmailAction = user.email_confirmed_at ? 'magiclink' : 'signup';
    await sendAuthEmail(d, c, { user, action, email, redirectTo, challenge });
  });
  return {};
}

/**
 * signInWithOtp({phone}): a code by SMS (GoTrue's SmsOtp). An unknown or unconfirmed number is
 * signed up first (no password) unless `create_user: false`; a confirmed one answers the
 * provider's `message_id`, a new one `{}`.
 */
async function phoneOtp(d: AuthDeps, req: FastifyRequest, body: Body) {
  if (!d.sms) throw AUTH_ERRORS.phoneProviderUnsupported();
  const channel = str(body.channel) ?? 'sms';
  if (channel !== 'sms') throw AUTH_ERRORS.validation("Invalid channel, supported values are 'sms' or 'whatsapp'");
  const phone = validatePhone(str(body.phone) ?? '');
  const tenantId = await d.tenantFromApiKey(req);
  return withTransaction(d.pool, async (c) => {
    let user = await findUserByPhone(c, phone);
    const signingUp = !user?.phone_confirmed_at;
    if (!user) {
      if (body.create_user === false) throw new AuthError(422, 'otp_disabled', 'Signups not allowed for otp');
      if (d.config.auth.disableSignup) throw AUTH_ERRORS.signupDisabled();
      d.signupByIp.hit(req.ip);
      user = await createUser(c, { phone, confirmed: false, userMetadata: obj(body.data), appMetadata: { provider: 'phone', providers: ['phone'] }, isAnonymous: false, tenantId });
    }
    const messageId = await sendPhoneOtp(d, c, user, phone);
    return signingUp ? {} : { message_id: messageId };
  });
}
