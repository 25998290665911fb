/**
 * Email flows end to end: supabase-js calls the stack, the auth service queues the mail
 * (graphile-worker), nodemailer delivers it to a real in-process SMTP server, and the test follows
 * the link from the received mail (or types its 6-digit code) like a user would — confirmation,
 * magic link and code, recovery, resend, invite, generate_link, email change, PKCE, redirect
 * allow-list, the short POST /api/auth/reset.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startSmtp, type TestSmtp } from '../test/helpers/smtp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let smtp: TestSmtp;
let admin: SupabaseClient;
const SITE = 'http://app.test';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const pkceClient = () => createClient(stack.url, db.config.anonKey, { auth: { ...opts.auth, flowType: 'pkce' } });

/** Follows an email link like a browser: one GET, the 303's Location parsed. */
async function follow(link: string): Promise<{ location: URL; fragment: URLSearchParams }> {
  const res = await fetch(link, { redirect: 'manual' });
  expect(res.status).toBe(303);
  const location = new URL(res.headers.get('location')!);
  return { location, fragment: new URLSearchParams(location.hash.slice(1)) };
}

/** A client signed in with the tokens of a link's fragment (what detectSessionInUrl does). */
async function clientFromFragment(fragment: URLSearchParams): Promise<SupabaseClient> {
  const sb = fresh();
  const { error } = await sb.auth.setSession({ access_token: fragment.get('access_token')!, refresh_token: fragment.get('refresh_token')! });
  expect(error).toBeNull();
  return sb;
}

beforeAll(async () => {
  smtp = await startSmtp();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      AUTH_AUTOCONFIRM: 'false',
      AUTH_EMAIL_MAX_FREQUENCY: '0',
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(smtp.port),
      SMTP_ADMIN_EMAIL: 'auth@nextmavens.test',
      SITE_URL: SITE,
      AUTH_REDIRECT_ALLOW_LIST: 'http://app.test/**,myapp://*',
    },
  });
  ({ db, stack } = t);
  // Links in mails use PUBLIC_URL; the stack listens on a random port known only now.
  db.config.publicUrl = stack.url;
  admin = createClient(stack.url, db.config.serviceRoleKey, opts);
});

afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('sign-up confirmation', () => {
  it('signUp sends a confirmation; following the link confirms and signs in (303, tokens in the fragment)', async () => {
    const { data, error } = await fresh().auth.signUp({ email: 'ann@example.com', password: 'secret123', options: { emailRedirectTo: `${SITE}/welcome` } });
    expect(error).toBeNull();
    expect(data.session).toBeNull();
    expect(data.user).toMatchObject({ email: 'ann@example.com' });
    expect(data.user?.confirmation_sent_at).toBeTruthy();
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).error?.code).toBe('email_not_confirmed');

    const mail = await smtp.next('ann@example.com');
    expect(mail.subject).toBe('Confirm your signup');
    expect(mail.text).toContain('From: NextMavens <auth@nextmavens.test>');
    const { location, fragment } = await follow(mail.link);
    expect(`${location.origin}${location.pathname}`).toBe(`${SITE}/welcome`);
    expect(fragment.get('type')).toBe('signup');
    expect(fragment.get('token_type')).toBe('bearer');
    const sb = await clientFromFragment(fragment);
    const { data: me } = await sb.auth.getUser();
    expect(me.user?.email_confirmed_at).toBeTruthy();
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).error).toBeNull();

    // Single use: the same link again is an error redirect, GoTrue style.
    const again = await follow(mail.link);
    expect(again.fragment.get('error_code')).toBe('otp_expired');
    expect(again.fragment.get('error')).toBe('access_denied');
  });

  it('only hashes are stored; an expired link is refused', async () => {
    await fresh().auth.signUp({ email: 'late@example.com', password: 'secret123' });
    const mail = await smtp.next('late@example.com');
    const token = new URL(mail.link).searchParams.get('token')!;
    const { rows } = await db.admin.query(`select token_hash from auth.one_time_tokens where relates_to = 'late@example.com'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).not.toBe(token);
    expect(JSON.stringify(rows)).not.toContain(mail.code);
    await db.admin.query(`update auth.one_time_tokens set expires_at = now() - interval '1 second' where relates_to = 'late@example.com'`);
    const { fragment } = await follow(mail.link);
    expect(fragment.get('error_code')).toBe('otp_expired');
    const code = await fresh().auth.verifyOtp({ email: 'late@example.com', token: mail.code, type: 'signup' });
    expect(code.error?.code).toBe('otp_expired');
  });

  it('resend sends a new confirmation that replaces the previous one', async () => {
    await fresh().auth.signUp({ email: 'rita@example.com', password: 'secret123' });
    const first = await smtp.next('rita@example.com');
    expect((await fresh().auth.resend({ type: 'signup', email: 'rita@example.com' })).error).toBeNull();
    const second = await smtp.next('rita@example.com');
    expect(second.link).not.toBe(first.link);
    expect((await follow(first.link)).fragment.get('error_code')).toBe('otp_expired');
    const ok = await fresh().auth.verifyOtp({ email: 'rita@example.com', token: second.code, type: 'signup' });
    expect(ok.error).toBeNull();
    expect(ok.data.session?.access_token).toBeTruthy();
  });

  it('signUp for a confirmed address answers an obfuscated user and sends nothing', async () => {
    const { data, error } = await fresh().auth.signUp({ email: 'ann@example.com', password: 'other-pass' });
    expect(error).toBeNull();
    const { rows } = await db.admin.query(`select id from auth.users where email = 'ann@example.com'`);
    expect(data.user?.id).not.toBe(rows[0].id);
    expect(await smtp.pending('ann@example.com')).toHaveLength(0);
  });
});

describe('magic link and OTP code', () => {
  it('signInWithOtp sends a magic link and a code; both sign in, each once', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithOtp({ email: 'ann@example.com', options: { emailRedirectTo: `${SITE}/in` } })).error).toBeNull();
    const mail = await smtp.next('ann@example.com');
    expect(mail.subject).toBe('Your magic link');
    const { data, error } = await sb.auth.verifyOtp({ email: 'ann@example.com', token: mail.code, type: 'email' });
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');
    const claims = JSON.parse(Buffer.from(data.session!.access_token.split('.')[1], 'base64url').toString());
    expect(claims.amr[0].method).toBe('magiclink');
    expect((await fresh().auth.verifyOtp({ email: 'ann@example.com', token: mail.code, type: 'email' })).error?.code).toBe('otp_expired');

    await fresh().auth.signInWithOtp({ email: 'ann@example.com', options: { emailRedirectTo: `${SITE}/in` } });
    const link = await follow((await smtp.next('ann@example.com')).link);
    expect(link.location.pathname).toBe('/in');
    expect(link.fragment.get('type')).toBe('magiclink');
    expect((await (await clientFromFragment(link.fragment)).auth.getUser()).data.user?.email).toBe('ann@example.com');
  });

  it('a wrong code is refused; create_user:false refuses unknown addresses; new addresses get a confirmation', async () => {
    await fresh().auth.signInWithOtp({ email: 'ann@example.com' });
    const mail = await smtp.next('ann@example.com');
    const wrong = String((Number(mail.code) + 1) % 1_000_000).padStart(6, '0');
    const bad = await fresh().auth.verifyOtp({ email: 'ann@example.com', token: wrong, type: 'email' });
    expect(bad.error?.code).toBe('otp_expired');
    expect(bad.error?.status).toBe(403);
    // The code of another address does not work for this one.
    expect((await fresh().auth.verifyOtp({ email: 'rita@example.com', token: mail.code, type: 'email' })).error?.code).toBe('otp_expired');

    const refused = await fresh().auth.signInWithOtp({ email: 'nobody@example.com', options: { shouldCreateUser: false } });
    expect(refused.error?.code).toBe('otp_disabled');
    expect((await fresh().auth.signInWithOtp({ email: 'newbie@example.com', options: { data: { plan: 'free' } } })).error).toBeNull();
    const welcome = await smtp.next('newbie@example.com');
    expect(welcome.subject).toBe('Confirm your signup');
    const { data } = await fresh().auth.verifyOtp({ email: 'newbie@example.com', token: welcome.code, type: 'email' });
    expect(data.user).toMatchObject({ email: 'newbie@example.com', user_metadata: { plan: 'free', email_verified: true } });
  });

  it('verifyOtp with token_hash (from generate_link) signs in', async () => {
    const link = await admin.auth.admin.generateLink({ type: 'magiclink', email: 'ann@example.com' });
    expect(link.error).toBeNull();
    expect(link.data.properties).toMatchObject({ verification_type: 'magiclink', redirect_to: SITE });
    expect(link.data.properties?.email_otp).toMatch(/^\d{6}$/);
    expect(link.data.user?.email).toBe('ann@example.com');
    const { data, error } = await fresh().auth.verifyOtp({ token_hash: link.data.properties!.hashed_token, type: 'magiclink' });
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');
    expect(await smtp.pending('ann@example.com', 100)).toHaveLength(0); // generate_link sends nothing
  });
});

describe('password recovery', () => {
  it('resetPasswordForEmail → follow the link → updateUser({password}) → sign in with it', async () => {
    expect((await fresh().auth.resetPasswordForEmail('ann@example.com', { redirectTo: `${SITE}/reset` })).error).toBeNull();
    const mail = await smtp.next('ann@example.com');
    expect(mail.subject).toBe('Reset your password');
    const { location, fragment } = await follow(mail.link);
    expect(location.pathname).toBe('/reset');
    expect(fragment.get('type')).toBe('recovery');
    const sb = await clientFromFragment(fragment);
    expect((await sb.auth.updateUser({ password: 'brand-new-pass' })).error).toBeNull();
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'brand-new-pass' })).error).toBeNull();
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).error?.code).toBe('invalid_credentials');
  });

  it('answers {} for unknown addresses without sending anything', async () => {
    expect((await fresh().auth.resetPasswordForEmail('ghost@example.com')).error).toBeNull();
    expect(await smtp.pending('ghost@example.com', 200)).toHaveLength(0);
  });

  it('POST /api/auth/reset sends the same recovery mail', async () => {
    const res = await fetch(`${stack.url}/api/auth/reset`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ann@example.com', redirect_to: `${SITE}/reset` }) });
    expect(res.status).toBe(200);
    expect(await body(res)).toEqual({});
    const mail = await smtp.next('ann@example.com');
    expect(mail.subject).toBe('Reset your password');
    expect(decodeURIComponent(mail.link)).toContain(`redirect_to=${SITE}/reset`);
  });
});

describe('invites and generate_link', () => {
  it('inviteUserByEmail: the invitee follows the link, is confirmed and signed in, then sets a password', async () => {
    const { data, error } = await admin.auth.admin.inviteUserByEmail('ivy@example.com', { data: { team: 'blue' }, redirectTo: `${SITE}/invited` });
    expect(error).toBeNull();
    expect(data.user?.invited_at).toBeTruthy();
    const mail = await smtp.next('ivy@example.com');
    expect(mail.subject).toBe('You have been invited');
    const { location, fragment } = await follow(mail.link);
    expect(location.pathname).toBe('/invited');
    expect(fragment.get('type')).toBe('invite');
    const sb = await clientFromFragment(fragment);
    expect((await sb.auth.updateUser({ password: 'ivy-secret' })).error).toBeNull();
    expect((await fresh().auth.signInWithPassword({ email: 'ivy@example.com', password: 'ivy-secret' })).data.user?.user_metadata).toMatchObject({ team: 'blue' });
    expect((await fresh().auth.admin.inviteUserByEmail('x@example.com')).error?.code).toBe('not_admin');
    expect((await admin.auth.admin.inviteUserByEmail('ivy@example.com')).error?.code).toBe('email_exists');
  });

  it('generate_link: signup (with password), recovery and invite links work when followed', async () => {
    const signup = await admin.auth.admin.generateLink({ type: 'signup', email: 'gen@example.com', password: 'gen-secret', options: { redirectTo: `${SITE}/gen` } });
    expect(signup.error).toBeNull();
    expect(signup.data.properties?.verification_type).toBe('signup');
    const s = await follow(signup.data.properties!.action_link.replace(/^https?:\/\/[^/]+/, stack.url));
    expect(s.location.pathname).toBe('/gen');
    expect(s.fragment.get('access_token')).toBeTruthy();
    expect((await fresh().auth.signInWithPassword({ email: 'gen@example.com', password: 'gen-secret' })).error).toBeNull();

    const recovery = await admin.auth.admin.generateLink({ type: 'recovery', email: 'gen@example.com' });
    expect((await follow(recovery.data.properties!.action_link)).fragment.get('type')).toBe('recovery');
    const invite = await admin.auth.admin.generateLink({ type: 'invite', email: 'gen2@example.com' });
    expect((await follow(invite.data.properties!.action_link)).fragment.get('type')).toBe('invite');
    expect((await admin.auth.admin.generateLink({ type: 'magiclink', email: 'missing@example.com' })).error?.status).toBe(404);
    expect((await fresh().auth.admin.generateLink({ type: 'magiclink', email: 'gen@example.com' })).error?.code).toBe('not_admin');
  });
});

describe('email change', () => {
  it('updateUser({email}) sends to both addresses; the change applies once both links are followed', async () => {
    const sb = fresh();
    await sb.auth.signInWithPassword({ email: 'gen@example.com', password: 'gen-secret' });
    const upd = await sb.auth.updateUser({ email: 'gen-new@example.com' }, { emailRedirectTo: `${SITE}/changed` });
    expect(upd.error).toBeNull();
    expect(upd.data.user).toMatchObject({ email: 'gen@example.com', new_email: 'gen-new@example.com' });
    const toOld = await smtp.next('gen@example.com');
    const toNew = await smtp.next('gen-new@example.com');
    expect(toOld.subject).toBe('Confirm email change');
    const first = await follow(toOld.link);
    expect(first.fragment.get('message')).toMatch(/Confirmation link accepted/);
    expect((await sb.auth.getUser()).data.user?.email).toBe('gen@example.com');
    const second = await follow(toNew.link);
    expect(second.location.pathname).toBe('/changed');
    expect(second.fragment.get('type')).toBe('email_change');
    const { data } = await sb.auth.getUser();
    expect(data.user?.email).toBe('gen-new@example.com');
    expect(data.user?.new_email).toBeUndefined();
    expect((await fresh().auth.signInWithPassword({ email: 'gen-new@example.com', password: 'gen-secret' })).error).toBeNull();
  });

  it('refuses an address already taken', async () => {
    const sb = fresh();
    await sb.auth.signInWithPassword({ email: 'gen-new@example.com', password: 'gen-secret' });
    expect((await sb.auth.updateUser({ email: 'ann@example.com' })).error?.code).toBe('email_exists');
  });
});

describe('redirect allow-list', () => {
  it('redirect_to outside SITE_URL and the allow-list falls back to SITE_URL; allowed patterns are kept', async () => {
    await fresh().auth.signInWithOtp({ email: 'ann@example.com', options: { emailRedirectTo: 'http://evil.test/steal' } });
    const evil = await follow((await smtp.next('ann@example.com')).link);
    expect(evil.location.origin).toBe(SITE);
    expect(evil.location.host).not.toBe('evil.test');

    await fresh().auth.signInWithOtp({ email: 'ann@example.com', options: { emailRedirectTo: 'myapp://callback' } });
    const res = await fetch((await smtp.next('ann@example.com')).link, { redirect: 'manual' });
    expect(res.headers.get('location')).toMatch(/^myapp:\/\/callback#access_token=/);

    // A forged link naming a foreign redirect_to cannot send tokens there either.
    const link = await admin.auth.admin.generateLink({ type: 'magiclink', email: 'ann@example.com' });
    const forged = new URL(link.data.properties!.action_link);
    forged.searchParams.set('redirect_to', 'https://app.test.evil.test/x');
    expect((await follow(forged.href)).location.origin).toBe(SITE);
  });
});

describe('PKCE (flowType: pkce)', () => {
  it('magic link: the link redirects with ?code=, exchangeCodeForSession signs in, once', async () => {
    const sb = pkceClient();
    expect((await sb.auth.signInWithOtp({ email: 'ann@example.com', options: { emailRedirectTo: `${SITE}/cb` } })).error).toBeNull();
    const mail = await smtp.next('ann@example.com');
    expect(new URL(mail.link).searchParams.get('token')).toMatch(/^pkce_/);
    const { location } = await follow(mail.link);
    expect(location.pathname).toBe('/cb');
    const code = location.searchParams.get('code')!;
    expect(code).toBeTruthy();
    expect(location.hash).toBe('');
    const { data, error } = await sb.auth.exchangeCodeForSession(code);
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');
    expect((await sb.auth.getUser()).data.user?.email).toBe('ann@example.com');
    // The code is single use.
    const again = await fetch(`${stack.url}/auth/v1/token?grant_type=pkce`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
      body: JSON.stringify({ auth_code: code, code_verifier: 'x'.repeat(43) }),
    });
    expect(again.status).toBe(404);
    expect((await body(again)).code).toBe('flow_state_not_found');
  });

  it('recovery and sign-up confirmation with PKCE; a wrong verifier is refused', async () => {
    const sb = pkceClient();
    await sb.auth.resetPasswordForEmail('ann@example.com', { redirectTo: `${SITE}/reset` });
    const { location } = await follow((await smtp.next('ann@example.com')).link);
    const code = location.searchParams.get('code')!;
    const wrong = await fetch(`${stack.url}/auth/v1/token?grant_type=pkce`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
      body: JSON.stringify({ auth_code: code, code_verifier: 'y'.repeat(43) }),
    });
    expect(wrong.status).toBe(400);
    expect((await body(wrong)).code).toBe('bad_code_verifier');

    await sb.auth.resetPasswordForEmail('ann@example.com', { redirectTo: `${SITE}/reset` });
    const second = await follow((await smtp.next('ann@example.com')).link);
    const { data, error } = await sb.auth.exchangeCodeForSession(second.location.searchParams.get('code')!);
    expect(error).toBeNull();
    expect(data.session?.user.email).toBe('ann@example.com');

    const signer = pkceClient();
    await signer.auth.signUp({ email: 'pk@example.com', password: 'secret123', options: { emailRedirectTo: `${SITE}/cb` } });
    const confirm = await follow((await smtp.next('pk@example.com')).link);
    const session = await signer.auth.exchangeCodeForSession(confirm.location.searchParams.get('code')!);
    expect(session.error).toBeNull();
    expect(session.data.user?.email_confirmed_at).toBeTruthy();
  });

  it('code_challenge_method plain works too (raw HTTP, as a client without WebCrypto sends it)', async () => {
    const verifier = 'plain-verifier-'.padEnd(50, 'x');
    const headers = { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' };
    const otp = await fetch(`${stack.url}/auth/v1/otp?redirect_to=${encodeURIComponent(`${SITE}/cb`)}`, {
      method: 'POST', headers, body: JSON.stringify({ email: 'ann@example.com', code_challenge: verifier, code_challenge_method: 'plain' }),
    });
    expect(otp.status).toBe(200);
    const { location } = await follow((await smtp.next('ann@example.com')).link);
    const exchange = await fetch(`${stack.url}/auth/v1/token?grant_type=pkce`, {
      method: 'POST', headers, body: JSON.stringify({ auth_code: location.searchParams.get('code'), code_verifier: verifier }),
    });
    expect(exchange.status).toBe(200);
    expect((await body(exchange)).user.email).toBe('ann@example.com');
  });

  it('an invalid code_challenge is a 400', async () => {
    const res = await fetch(`${stack.url}/auth/v1/otp`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
      body: JSON.stringify({ email: 'ann@example.com', code_challenge: 'short', code_challenge_method: 's256' }),
    });
    expect(res.status).toBe(400);
    expect((await body(res)).code).toBe('validation_failed');
  });
});
