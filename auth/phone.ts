/**
 * Phone numbers and SMS codes as GoTrue handles them (internal/api/phone.go): numbers are E.164
 * digits once `+` and spaces are dropped, and stored so; a code is a one-time token
 * (`confirmation_token`, hex(sha224(phone || code)), kept as sha256 like the mail tokens of
 * auth/otp.ts) valid AUTH_SMS_OTP_EXP seconds, one per AUTH_SMS_MAX_FREQUENCY per user, sent
 * through the SMS provider (auth/sms.ts) — or, for the numbers of AUTH_SMS_TEST_OTP, a fixed
 * code sent nowhere. A new number (updateUser({phone})) is confirmed the same way with a
 * `phone_change` code.
 */
import { randomInt } from 'node:crypto';
import type pg from 'pg';
import type { AuthDeps } from './deps.ts';
import { AuthError, AUTH_ERRORS } from './errors.ts';
import { storedHash, tokenHash } from './otp.ts';
import { secondsUntilNextMail, setPhoneChange, stampMailSent, takeToken, upsertToken, type ConsumedToken, type UserRow } from './store/index.ts';

const E164 = /^[1-9][0-9]{1,14}$/;

/** The number as GoTrue keeps it, or its 400. */
export function validatePhone(raw: string): string {
  const phone = raw.replace(/^\+/, '').replaceAll(' ', '');
  if (!E164.test(phone)) throw AUTH_ERRORS.validation('Invalid phone number format (E.164 required)');
  return phone;
}

/** What an SMS code is for: signing up or in (`sms`), or confirming a new number (`phone_change`, GoTrue's phoneChangeVerification). */
export type PhoneOtpKind = 'sms' | 'phone_change';
const KINDS = {
  sms: { sent: 'confirmation_sent_at', tokenType: 'confirmation_token' },
  phone_change: { sent: 'phone_change_sent_at', tokenType: 'phone_change_token' },
} as const;

/**
 * Sends `user` a code at `phone`, in the caller's transaction; the provider's message id. A
 * phone_change code also records the number as the user's pending `phone_change`.
 */
export async function sendPhoneOtp(d: AuthDeps, c: pg.PoolClient, user: UserRow, phone: string, kind: PhoneOtpKind = 'sms'): Promise<string> {
  const sms = d.config.auth.sms;
  const { sent, tokenType } = KINDS[kind];
  // Before the test codes too, so that they behave like real ones (as GoTrue).
  const wait = sms.maxFrequency > 0 ? await secondsUntilNextMail(c, user.id, sent, sms.maxFrequency) : null;
  if (wait !== null && wait !== undefined && wait > 0) {
    throw new AuthError(429, 'over_sms_send_rate_limit', `For security purposes, you can only request this after ${wait} seconds.`);
  }
  let code = sms.testOtp[phone];
  let messageId = 'test-otp';
  if (!code) {
    if (!d.sms) throw AUTH_ERRORS.phoneProviderUnsupported();
    d.smsSentPerHour.hit('instance');
    code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const text = sms.template.replace(/\{\{\s*\.Code\s*\}\}/g, code);
    try {
      messageId = await d.sms.send(phone, text);
    } catch (err) {
      throw new AuthError(422, 'sms_send_failed', `Error sending ${kind === 'sms' ? 'confirmation' : 'phone change'} OTP to provider: ${(err as Error).message}`);
    }
  }
  await upsertToken(c, { userId: user.id, tokenType, storedHash: storedHash(tokenHash(phone, code)), relatesTo: phone, flowStateId: null, ttlSeconds: sms.otpExp });
  if (kind === 'phone_change') await setPhoneChange(c, user.id, phone);
  await stampMailSent(c, user.id, sent);
  return messageId;
}

/** Takes the code sent to `phone`, if it is one (not expired). */
export async function takePhoneOtp(c: pg.PoolClient, phone: string, code: string, kind: PhoneOtpKind = 'sms'): Promise<ConsumedToken | undefined> {
  const token = await takeToken(c, storedHash(tokenHash(phone, code)), [KINDS[kind].tokenType], phone);
  return token && !token.expired ? token : undefined;
}
