/**
 * The MessageBird (Bird) and Vonage SMS adapters through auth-js: phone sign-in against local fake
 * providers that check GoTrue's request format (sms_provider/messagebird.go, vonage.go: path,
 * form fields, credentials) and answer as the real APIs do, including their refusals, which
 * become 422 sms_send_failed with the provider's reason.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const REFUSED = '15550107777';

interface Request {
  path: string;
  headers: http.IncomingHttpHeaders;
  form: Record<string, string>;
}

/** A fake provider: records every request and answers with `answer`. */
async function startFake(answer: (r: Request) => { status: number; body: unknown }) {
  const requests: Request[] = [];
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const r = { path: `${req.method} ${req.url}`, headers: req.headers, form: Object.fromEntries(new URLSearchParams(raw)) };
    requests.push(r);
    const { status, body } = answer(r);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const codeOf = (text: string) => /\b(\d{6})\b/.exec(text)![1];

async function withStack(env: Record<string, string>) {
  const t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_SMS_MAX_FREQUENCY: '0', AUTH_SMS_TEMPLATE: 'Ihr Code: {{ .Code }} ✓', ...env } });
  return { t, client: () => createClient(t.stack.url, t.db.config.anonKey, opts) };
}

describe('MessageBird (AUTH_SMS_PROVIDER=messagebird)', () => {
  let fake: Awaited<ReturnType<typeof startFake>>;
  let s: Awaited<ReturnType<typeof withStack>>;
  beforeAll(async () => {
    fake = await startFake((r) => {
      if (r.path !== 'POST /messages') return { status: 404, body: { errors: [{ code: 20, description: 'message not found' }] } };
      if (r.headers.authorization !== 'AccessKey live_key') return { status: 401, body: { errors: [{ code: 2, description: 'Request not allowed (incorrect access_key)', parameter: 'access_key' }] } };
      if (r.form.recipients === REFUSED) return { status: 422, body: { errors: [{ code: 9, description: 'no (correct) recipients found', parameter: 'recipients' }] } };
      return { status: 201, body: { id: `mb-${fake.requests.length}`, recipients: { totalCount: 1, totalSentCount: 1 } } };
    });
    s = await withStack({ AUTH_SMS_PROVIDER: 'messagebird', MESSAGEBIRD_ACCESS_KEY: 'live_key', MESSAGEBIRD_ORIGINATOR: 'Acme', MESSAGEBIRD_API_URL: fake.origin });
  });
  afterAll(async () => {
    await s?.t.close();
    await fake?.close();
  });

  it('sends the code as GoTrue does and the code signs in; settings name the provider', async () => {
    expect((await s.client().auth.signInWithOtp({ phone: '+15550107001' })).error).toBeNull();
    const sent = fake.requests.at(-1)!;
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent.form).toEqual({ originator: 'Acme', body: expect.stringMatching(/^Ihr Code: \d{6} ✓$/), recipients: '15550107001', type: 'sms', datacoding: 'unicode' });
    const { data, error } = await s.client().auth.verifyOtp({ phone: '+15550107001', token: codeOf(sent.form.body), type: 'sms' });
    expect(error).toBeNull();
    expect(data.user?.phone).toBe('15550107001');
    const settings = await fetch(`${s.t.stack.url}/auth/v1/settings`, { headers: { apikey: s.t.db.config.anonKey } });
    expect(await settings.json()).toMatchObject({ sms_provider: 'messagebird', external: { phone: true } });
  });

  it("a refusal is 422 sms_send_failed with MessageBird's description, and no user is left", async () => {
    const { error } = await s.client().auth.signInWithOtp({ phone: `+${REFUSED}` });
    expect(error).toMatchObject({ status: 422, code: 'sms_send_failed', message: 'Error sending confirmation OTP to provider: no (correct) recipients found' });
    expect((await s.t.db.admin.query(`select 1 from auth.users where phone = $1`, [REFUSED])).rowCount).toBe(0);
  });
});

describe('Vonage (AUTH_SMS_PROVIDER=vonage)', () => {
  let fake: Awaited<ReturnType<typeof startFake>>;
  let s: Awaited<ReturnType<typeof withStack>>;
  beforeAll(async () => {
    fake = await startFake((r) => {
      if (r.path !== 'POST /sms/json') return { status: 404, body: {} };
      if (r.form.api_key !== 'vk' || r.form.api_secret !== 'vs') return { status: 200, body: { 'message-count': '1', messages: [{ status: '4', 'error-text': 'Bad Credentials' }] } };
      if (r.form.to === REFUSED) return { status: 200, body: { 'message-count': '1', messages: [{ to: REFUSED, status: '6', 'error-text': 'Unroutable message - rejected', 'message-id': 'v-bad' }] } };
      return { status: 200, body: { 'message-count': '1', messages: [{ to: r.form.to, 'message-id': `v-${fake.requests.length}`, status: '0' }] } };
    });
    s = await withStack({ AUTH_SMS_PROVIDER: 'vonage', VONAGE_API_KEY: 'vk', VONAGE_API_SECRET: 'vs', VONAGE_FROM: 'AcmeCo', VONAGE_API_URL: fake.origin });
  });
  afterAll(async () => {
    await s?.t.close();
    await fake?.close();
  });

  it('sends the code as GoTrue does (unicode text marked so) and the code confirms a phone sign-up', async () => {
    expect((await s.client().auth.signUp({ phone: '+15550107002', password: 'secret123' })).error).toBeNull();
    const sent = fake.requests.at(-1)!;
    expect(sent.form).toEqual({ from: 'AcmeCo', to: '15550107002', text: expect.stringMatching(/^Ihr Code: \d{6} ✓$/), api_key: 'vk', api_secret: 'vs', type: 'unicode' });
    const { data, error } = await s.client().auth.verifyOtp({ phone: '+15550107002', token: codeOf(sent.form.text), type: 'sms' });
    expect(error).toBeNull();
    expect(data.user?.phone_confirmed_at).toBeTruthy();
  });

  it("a message status other than 0 is 422 sms_send_failed with Vonage's error text", async () => {
    const { error } = await s.client().auth.signInWithOtp({ phone: `+${REFUSED}` });
    expect(error).toMatchObject({ status: 422, code: 'sms_send_failed', message: 'Error sending confirmation OTP to provider: vonage error: Unroutable message - rejected (status: 6) for message v-bad' });
  });
});
