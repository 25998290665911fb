/**
 * Reauthentication through auth-js with AUTH_SECURE_PASSWORD_CHANGE=true: `reauthenticate()`
 * mails a nonce (dev inbox), and `updateUser({password, nonce})` needs it from a session older
 * than 24 h, as GoTrue — missing, wrong, reused and expired nonces answer GoTrue's codes.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

async function mailsTo(email: string): Promise<{ subject: string; text: string; html: string }[]> {
  const key = db.config.serviceRoleKey;
  const res = await fetch(`${stack.url}/auth/v1/admin/inbox?email=${encodeURIComponent(email)}`, { headers: { apikey: key, authorization: `Bearer ${key}` } });
  return ((await res.json()) as { messages: { subject: string; text: string; html: string }[] }).messages;
}

/** The nonce of the newest reauthentication mail to `email` (waits for the mail job). */
async function nonceMailedTo(email: string, count = 1): Promise<string> {
  for (let i = 0; i < 250; i++) {
    const mails = (await mailsTo(email)).filter((m) => m.subject === 'Confirm reauthentication');
    if (mails.length >= count) return /\b(\d{6})\b/.exec(mails[0].text)![1];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no reauthentication mail to ${email}`);
}

/** A signed-in user whose session signed in more than 24 h ago. */
async function oldSession(email: string): Promise<SupabaseClient> {
  const sb = fresh();
  expect((await sb.auth.signUp({ email, password: 'first-pass' })).error).toBeNull();
  const sessionId = claimsOf((await sb.auth.getSession()).data.session!.access_token).session_id;
  await db.admin.query(`update auth.sessions set created_at = now() - interval '25 hours' where id = $1`, [sessionId]);
  return sb;
}

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_SECURE_PASSWORD_CHANGE: 'true', AUTH_EMAIL_MAX_FREQUENCY: '60' } });
  ({ db, stack } = t);
});

afterAll(() => t?.close());

describe('reauthenticate and updateUser({password, nonce})', () => {
  it('a session that signed in within 24 h changes the password without a nonce (GoTrue)', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ email: 'recent@example.com', password: 'first-pass' })).error).toBeNull();
    expect((await sb.auth.updateUser({ password: 'second-pass' })).error).toBeNull();
  });

  it('an older session needs the mailed nonce: missing, wrong, then right; a nonce is used once', async () => {
    const sb = await oldSession('old@example.com');
    const missing = await sb.auth.updateUser({ password: 'second-pass' });
    expect(missing.error).toMatchObject({ status: 400, code: 'reauthentication_needed', message: 'Password update requires reauthentication' });

    const sent = await sb.auth.reauthenticate();
    expect(sent.error).toBeNull();
    const nonce = await nonceMailedTo('old@example.com');
    const mail = (await mailsTo('old@example.com'))[0];
    expect(mail.html).toContain(nonce);
    expect(mail.text).not.toContain('/auth/v1/verify');
    // One nonce mail per address per AUTH_EMAIL_MAX_FREQUENCY.
    const again = await sb.auth.reauthenticate();
    expect(again.error).toMatchObject({ status: 429, code: 'over_email_send_rate_limit' });

    const wrongNonce = String((Number(nonce) + 1) % 1_000_000).padStart(6, '0');
    const wrong = await sb.auth.updateUser({ password: 'second-pass', nonce: wrongNonce });
    expect(wrong.error).toMatchObject({ status: 422, code: 'reauthentication_not_valid', message: 'Nonce has expired or is invalid' });
    // The nonce is no verifyOtp type: it cannot sign anyone in.
    const asOtp = await fresh().auth.verifyOtp({ email: 'old@example.com', token: nonce, type: 'reauthentication' as never });
    expect(asOtp.error).not.toBeNull();

    const ok = await sb.auth.updateUser({ password: 'second-pass', nonce });
    expect(ok.error).toBeNull();
    expect((await fresh().auth.signInWithPassword({ email: 'old@example.com', password: 'second-pass' })).error).toBeNull();
    const reused = await sb.auth.updateUser({ password: 'third-pass', nonce });
    expect(reused.error).toMatchObject({ status: 422, code: 'reauthentication_not_valid' });
  });

  it('an expired nonce is refused; changing only metadata needs none', async () => {
    const sb = await oldSession('late@example.com');
    expect((await sb.auth.reauthenticate()).error).toBeNull();
    const nonce = await nonceMailedTo('late@example.com');
    await db.admin.query(`update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = 'late@example.com'`);
    const late = await sb.auth.updateUser({ password: 'second-pass', nonce });
    expect(late.error).toMatchObject({ status: 422, code: 'reauthentication_not_valid' });
    expect((await sb.auth.updateUser({ data: { theme: 'dark' } })).error).toBeNull();
  });

  it('refuses users whose email is not confirmed, and callers without a session', async () => {
    const sb = await oldSession('unconfirmed@example.com');
    await db.admin.query(`update auth.users set email_confirmed_at = null where email = 'unconfirmed@example.com'`);
    const res = await sb.auth.reauthenticate();
    expect(res.error).toMatchObject({ status: 422, code: 'email_not_confirmed', message: 'Please verify your email first.' });
    expect((await mailsTo('unconfirmed@example.com')).length).toBe(0);
    const anonymous = await fresh().auth.reauthenticate();
    expect(anonymous.error?.name).toBe('AuthSessionMissingError');
  });
});
