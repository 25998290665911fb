/**
 * Phone sign-up and sign-in through auth-js with AUTH_SMS_PROVIDER=twilio against a fake Twilio
 * (a node:http server checking the account's basic auth and recording each message):
 * signUp/signInWithOtp/verifyOtp/signInWithPassword/resend with a phone, E.164 checks, GoTrue's
 * refusals, the send limit, provider failures, and AUTH_SMS_TEST_OTP numbers that send nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const SID = 'AC0123456789';
const FAILING = '+15550100666';

interface Sms {
  to: string;
  from: string;
  body: string;
}

/** Twilio's Messages endpoint as far as sending needs it; `FAILING` is refused like an invalid number. */
async function startFakeTwilio() {
  const sent: Sms[] = [];
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== `/2010-04-01/Accounts/${SID}/Messages.json`) return send(404, { code: 20404, message: 'Not found' });
    if (req.headers.authorization !== `Basic ${Buffer.from(`${SID}:twilio-token`).toString('base64')}`) return send(401, { code: 20003, message: 'Authenticate' });
    const form = new URLSearchParams(raw);
    if (form.get('To') === FAILING) return send(400, { code: 21211, message: "The 'To' number +15550100666 is not a valid phone number.", status: 400 });
    sent.push({ to: form.get('To')!, from: form.get('From')!, body: form.get('Body')! });
    send(201, { sid: `SM${sent.length}`, status: 'queued', to: form.get('To'), from: form.get('From') });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, sent, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let twilio: Awaited<ReturnType<typeof startFakeTwilio>>;
let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
/** The code of the last SMS to `to`. */
const lastCode = (to: string) => /\b(\d{6})\b/.exec(twilio.sent.filter((m) => m.to === to).at(-1)!.body)![1];

beforeAll(async () => {
  twilio = await startFakeTwilio();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      AUTH_SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: 'twilio-token',
      TWILIO_MESSAGE_SERVICE_SID: 'MG42',
      TWILIO_API_URL: twilio.origin,
      AUTH_SMS_TEST_OTP: '+1 555 010 9999:424242',
      AUTH_SMS_MAX_FREQUENCY: '2',
      AUTH_SMS_TEMPLATE: 'Acme code: {{ .Code }}',
    },
  });
  ({ db, stack } = t);
});

afterAll(async () => {
  await t?.close();
  await twilio?.close();
});

describe('phone sign-up and sign-in', () => {
  it('settings name the SMS provider', async () => {
    const res = await fetch(`${stack.url}/auth/v1/settings`, { headers: { apikey: db.config.anonKey } });
    expect(await res.json()).toMatchObject({ external: { phone: true }, sms_provider: 'twilio' });
  });

  it('signUp with a phone sends a code by SMS; verifyOtp confirms the number and signs in; then the password works', async () => {
    const sb = fresh();
    const { data, error } = await sb.auth.signUp({ phone: '+1 555 010 0001', password: 'secret123' });
    expect(error).toBeNull();
    expect(data.session).toBeNull();
    expect(data.user).toMatchObject({ phone: '15550100001', app_metadata: { provider: 'phone', providers: ['phone'] } });
    expect(data.user?.phone_confirmed_at).toBeUndefined();
    const sms = twilio.sent.at(-1)!;
    expect(sms).toMatchObject({ to: '+15550100001', from: 'MG42' });
    expect(sms.body).toMatch(/^Acme code: \d{6}$/);

    const early = await fresh().auth.signInWithPassword({ phone: '+15550100001', password: 'secret123' });
    expect(early.error).toMatchObject({ status: 400, code: 'phone_not_confirmed', message: 'Phone not confirmed' });
    const wrongCode = String((Number(lastCode('+15550100001')) + 1) % 1_000_000).padStart(6, '0');
    const wrong = await sb.auth.verifyOtp({ phone: '+15550100001', token: wrongCode, type: 'sms' });
    expect(wrong.error).toMatchObject({ status: 403, code: 'otp_expired', message: 'Token has expired or is invalid' });

    const ok = await sb.auth.verifyOtp({ phone: '+15550100001', token: lastCode('+15550100001'), type: 'sms' });
    expect(ok.error).toBeNull();
    expect(ok.data.user).toMatchObject({ id: data.user!.id, phone: '15550100001', phone_confirmed_at: expect.any(String) });
    expect(ok.data.user?.identities?.[0]).toMatchObject({ provider: 'phone', identity_data: { phone: '15550100001', phone_verified: true } });
    const claims = JSON.parse(Buffer.from(ok.data.session!.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ phone: '15550100001', amr: [{ method: 'otp' }] });
    // A code is used once.
    expect((await fresh().auth.verifyOtp({ phone: '+15550100001', token: lastCode('+15550100001'), type: 'sms' })).error?.code).toBe('otp_expired');

    expect((await fresh().auth.signInWithPassword({ phone: '15550100001', password: 'secret123' })).error).toBeNull();
    const taken = await fresh().auth.signUp({ phone: '+15550100001', password: 'other-pass' });
    expect(taken.error).toMatchObject({ status: 422, code: 'user_already_exists' });
  });

  it('signInWithOtp with a phone: a new number is signed up, a known one gets a code with the message id, one per AUTH_SMS_MAX_FREQUENCY', async () => {
    const first = await fresh().auth.signInWithOtp({ phone: '+15550100002' });
    expect(first.error).toBeNull();
    expect(first.data.messageId).toBeUndefined();
    const sb = fresh();
    expect((await sb.auth.verifyOtp({ phone: '+15550100002', token: lastCode('+15550100002'), type: 'sms' })).error).toBeNull();

    const soon = await fresh().auth.signInWithOtp({ phone: '+15550100002' });
    expect(soon.error).toMatchObject({ status: 429, code: 'over_sms_send_rate_limit' });
    await new Promise((r) => setTimeout(r, 2100));
    const known = await fresh().auth.signInWithOtp({ phone: '+15550100002' });
    expect(known.error).toBeNull();
    expect(known.data.messageId).toBe(`SM${twilio.sent.length}`);
    const again = await sb.auth.verifyOtp({ phone: '+15550100002', token: lastCode('+15550100002'), type: 'sms' });
    expect(again.data.user?.id).toBe((await sb.auth.getUser()).data.user?.id);

    const noSignup = await fresh().auth.signInWithOtp({ phone: '+15550100003', options: { shouldCreateUser: false } });
    expect(noSignup.error).toMatchObject({ status: 422, code: 'otp_disabled' });
    const bad = await fresh().auth.signInWithOtp({ phone: '+0123' });
    expect(bad.error).toMatchObject({ status: 400, message: 'Invalid phone number format (E.164 required)' });
  });

  it('an expired code is refused; resend sends a new one to an unconfirmed number only', async () => {
    expect((await fresh().auth.signUp({ phone: '+15550100004', password: 'secret123' })).error).toBeNull();
    const code = lastCode('+15550100004');
    await db.admin.query(`update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = '15550100004'`);
    expect((await fresh().auth.verifyOtp({ phone: '+15550100004', token: code, type: 'sms' })).error?.code).toBe('otp_expired');
    await new Promise((r) => setTimeout(r, 2100));
    const count = twilio.sent.length;
    const resent = await fresh().auth.resend({ phone: '+15550100004', type: 'sms' });
    expect(resent.error).toBeNull();
    expect(twilio.sent.length).toBe(count + 1);
    expect((await fresh().auth.verifyOtp({ phone: '+15550100004', token: lastCode('+15550100004'), type: 'sms' })).error).toBeNull();
    expect((await fresh().auth.resend({ phone: '+15550100004', type: 'sms' })).error).toBeNull();
    expect(twilio.sent.length).toBe(count + 1);
  });

  it('a provider failure is 422 sms_send_failed and leaves no user; test numbers get their fixed code and no SMS', async () => {
    const failed = await fresh().auth.signUp({ phone: FAILING, password: 'secret123' });
    expect(failed.error).toMatchObject({ status: 422, code: 'sms_send_failed' });
    expect(failed.error?.message).toContain('is not a valid phone number');
    expect((await db.admin.query(`select 1 from auth.users where phone = '15550100666'`)).rowCount).toBe(0);

    const count = twilio.sent.length;
    expect((await fresh().auth.signInWithOtp({ phone: '+15550109999' })).error).toBeNull();
    expect(twilio.sent.length).toBe(count);
    const ok = await fresh().auth.verifyOtp({ phone: '+15550109999', token: '424242', type: 'sms' });
    expect(ok.error).toBeNull();
    expect(ok.data.user?.phone).toBe('15550109999');
  });
});

describe('phone change (updateUser({ phone }) + verifyOtp({ type: "phone_change" }))', () => {
  it('an email user adds a number: a code goes to the new number, which is theirs, confirmed, once verified', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ email: 'pat@example.com', password: 'secret123' })).error).toBeNull();
    const count = twilio.sent.length;
    const { data, error } = await sb.auth.updateUser({ phone: '+1 555 010 0200' });
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ phone: '', new_phone: '15550100200' });
    expect(twilio.sent.length).toBe(count + 1);
    expect(twilio.sent.at(-1)).toMatchObject({ to: '+15550100200', body: expect.stringMatching(/^Acme code: \d{6}$/) });
    // A wrong code, or a code for the wrong kind, is refused.
    expect((await fresh().auth.verifyOtp({ phone: '+15550100200', token: '000000', type: 'phone_change' })).error).toMatchObject({ status: 403, code: 'otp_expired' });
    expect((await fresh().auth.verifyOtp({ phone: '+15550100200', token: lastCode('+15550100200'), type: 'sms' })).error?.code).toBe('otp_expired');
    const verified = await fresh().auth.verifyOtp({ phone: '+15550100200', token: lastCode('+15550100200'), type: 'phone_change' });
    expect(verified.error).toBeNull();
    expect(verified.data.user).toMatchObject({ email: 'pat@example.com', phone: '15550100200' });
    expect(verified.data.user?.phone_confirmed_at).toBeTruthy();
    expect(verified.data.user?.identities?.map((i) => i.provider).sort()).toEqual(['email', 'phone']);
    expect(JSON.parse(Buffer.from(verified.data.session!.access_token.split('.')[1], 'base64url').toString()).amr[0].method).toBe('otp');
    // The code is single use, and the number now signs in.
    expect((await fresh().auth.verifyOtp({ phone: '+15550100200', token: lastCode('+15550100200'), type: 'phone_change' })).error?.code).toBe('otp_expired');
    expect((await fresh().auth.signInWithPassword({ phone: '+15550100200', password: 'secret123' })).error).toBeNull();
  });

  it('resend({ type: "phone_change" }) sends a new code to a pending new number, and nothing for any other number', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ email: 'quinn@example.com', password: 'secret123' })).error).toBeNull();
    expect((await sb.auth.updateUser({ phone: '+15550100250' })).error).toBeNull();
    const first = lastCode('+15550100250');
    await new Promise((r) => setTimeout(r, 2100));
    const count = twilio.sent.length;
    const resent = await fresh().auth.resend({ type: 'phone_change', phone: '+15550100250' });
    expect(resent.error).toBeNull();
    expect(resent.data).toMatchObject({ messageId: expect.stringMatching(/^SM\d+$/) });
    expect(twilio.sent.length).toBe(count + 1);
    expect(twilio.sent.at(-1)?.to).toBe('+15550100250');
    // No pending change to that number: GoTrue's 200 with nothing sent.
    const none = await fresh().auth.resend({ type: 'phone_change', phone: '+15550100251' });
    expect(none.error).toBeNull();
    expect(twilio.sent.length).toBe(count + 1);
    const code = lastCode('+15550100250');
    if (code !== first) expect((await fresh().auth.verifyOtp({ phone: '+15550100250', token: first, type: 'phone_change' })).error?.code).toBe('otp_expired');
    const verified = await fresh().auth.verifyOtp({ phone: '+15550100250', token: code, type: 'phone_change' });
    expect(verified.error).toBeNull();
    expect(verified.data.user).toMatchObject({ email: 'quinn@example.com', phone: '15550100250' });
  });

  it('a phone user moves to a new number; a taken number, a bad one and the send limit are refused as GoTrue does', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ phone: '+15550100300', password: 'secret123' })).error).toBeNull();
    expect((await sb.auth.verifyOtp({ phone: '+15550100300', token: lastCode('+15550100300'), type: 'sms' })).error).toBeNull();
    expect((await sb.auth.updateUser({ phone: '+15550100200' })).error).toMatchObject({ status: 422, code: 'phone_exists', message: 'A user with this phone number has already been registered' });
    expect((await sb.auth.updateUser({ phone: '+1-555-call-me' })).error).toMatchObject({ status: 400, message: 'Invalid phone number format (E.164 required)' });
    expect((await sb.auth.updateUser({ phone: '+15550100301' })).error).toBeNull();
    expect((await sb.auth.updateUser({ phone: '+15550100302' })).error).toMatchObject({ status: 429, code: 'over_sms_send_rate_limit' });
    // Another user cannot confirm the change with their own session: the code is what counts, and it is the old number's owner's.
    const moved = await fresh().auth.verifyOtp({ phone: '+15550100301', token: lastCode('+15550100301'), type: 'phone_change' });
    expect(moved.error).toBeNull();
    expect(moved.data.user?.phone).toBe('15550100301');
    expect((await db.admin.query(`select identity_data->>'phone' as phone from auth.identities where provider = 'phone' and user_id = $1`, [moved.data.user!.id])).rows).toEqual([{ phone: '15550100301' }]);
    expect((await fresh().auth.signInWithPassword({ phone: '+15550100300', password: 'secret123' })).error?.code).toBe('invalid_credentials');
  });
});
