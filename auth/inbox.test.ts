/**
 * Without SMTP, auth mails land in the dev inbox (GET /auth/v1/admin/inbox, service_role only),
 * and the send limits answer 429 with GoTrue's codes: one mail per address per
 * AUTH_EMAIL_MAX_FREQUENCY, AUTH_RATE_LIMIT_EMAIL_SENT per hour, AUTH_RATE_LIMIT_OTP per address.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);

interface InboxMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

async function inbox(email: string, key = db.config.serviceRoleKey): Promise<{ status: number; messages: InboxMessage[] }> {
  const res = await fetch(`${stack.url}/auth/v1/admin/inbox?email=${encodeURIComponent(email)}`, { headers: { apikey: key, authorization: `Bearer ${key}` } });
  const json = await body(res);
  return { status: res.status, messages: json.messages ?? [] };
}

async function waitForInbox(email: string): Promise<InboxMessage> {
  for (let i = 0; i < 250; i++) {
    const { messages } = await inbox(email);
    if (messages.length) return messages[0];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no mail to ${email} in the dev inbox`);
}

beforeAll(async () => {
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      AUTH_AUTOCONFIRM: 'false',
      AUTH_EMAIL_MAX_FREQUENCY: '60',
      AUTH_RATE_LIMIT_EMAIL_SENT: '3',
      AUTH_RATE_LIMIT_OTP: '5',
      SITE_URL: 'http://app.test',
    },
  });
  ({ db, stack } = t);
  db.config.publicUrl = stack.url;
  admin = createClient(stack.url, db.config.serviceRoleKey, opts);
});

afterAll(() => t?.close());

describe('dev inbox', () => {
  it('keeps the mail; its link works; only service_role may read it', async () => {
    expect((await fresh().auth.signInWithOtp({ email: 'dev@example.com' })).error).toBeNull();
    const mail = await waitForInbox('dev@example.com');
    expect(mail).toMatchObject({ to: 'dev@example.com', subject: 'Confirm your signup' });
    expect(mail.html).toContain('<a href=');
    const link = /http\S+\/auth\/v1\/verify\?\S+/.exec(mail.text)![0];
    const res = await fetch(link, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^http:\/\/app\.test#access_token=/);

    const denied = await inbox('dev@example.com', db.config.anonKey);
    expect(denied.status).toBe(403);
    expect(denied.messages).toEqual([]);
  });
});

describe('send limits', () => {
  it('one mail per address per AUTH_EMAIL_MAX_FREQUENCY: 429 over_email_send_rate_limit', async () => {
    // Now confirmed, the address gets a magic link (another kind of mail: not limited by the confirmation).
    expect((await fresh().auth.signInWithOtp({ email: 'dev@example.com' })).error).toBeNull();
    const again = await fresh().auth.signInWithOtp({ email: 'dev@example.com' });
    expect(again.error?.status).toBe(429);
    expect(again.error?.code).toBe('over_email_send_rate_limit');
    expect(again.error?.message).toMatch(/only request this after \d+ seconds/);
  });

  it('AUTH_RATE_LIMIT_EMAIL_SENT mails per hour for the instance', async () => {
    // Two mails went out above; the budget is 3.
    expect((await admin.auth.admin.inviteUserByEmail('inv1@example.com')).error).toBeNull();
    const over = await admin.auth.admin.inviteUserByEmail('inv3@example.com');
    expect(over.error?.status).toBe(429);
    expect(over.error?.code).toBe('over_email_send_rate_limit');
    // The refused invite left nothing behind (its transaction rolled back).
    expect((await db.admin.query(`select 1 from auth.users where email = 'inv3@example.com'`)).rowCount).toBe(0);
  });

  it('AUTH_RATE_LIMIT_OTP requests per client address on /otp, /recover, /resend: 429 over_request_rate_limit', async () => {
    // Three /otp requests above already counted.
    for (let i = 0; i < 2; i++) expect((await fresh().auth.resetPasswordForEmail(`nobody${i}@example.com`)).error).toBeNull();
    const over = await fresh().auth.resetPasswordForEmail('nobody@example.com');
    expect(over.error?.status).toBe(429);
    expect(over.error?.code).toBe('over_request_rate_limit');
    expect((await fresh().auth.resend({ type: 'signup', email: 'dev@example.com' })).error?.code).toBe('over_request_rate_limit');
  });

  it('DELETE /admin/inbox empties it', async () => {
    const res = await fetch(`${stack.url}/auth/v1/admin/inbox`, { method: 'DELETE', headers: { apikey: db.config.serviceRoleKey, authorization: `Bearer ${db.config.serviceRoleKey}` } });
    expect(res.status).toBe(200);
    expect((await inbox('dev@example.com')).messages).toEqual([]);
  });
});
