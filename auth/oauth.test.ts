/**
 * OAuth sign-in with GitHub and Google end to end: supabase-js builds the /authorize URL
 * (skipBrowserRedirect), the test walks the redirects like a browser through a fake provider
 * (a node:http server playing GitHub and Google: authorize, token with PKCE check, profile),
 * back through /callback to redirect_to, then exchangeCodeForSession (PKCE) or reads the fragment
 * (implicit). Identities link by verified email.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startFakeProvider } from '../test/helpers/oauth-provider.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const SITE = 'http://app.test';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const pkceClient = () => createClient(stack.url, db.config.anonKey, { auth: { ...opts.auth, flowType: 'pkce' } });

/** Follows redirects like a browser until one leaves the stack and the fake provider. */
async function walk(start: string): Promise<URL> {
  let url = start;
  for (let hop = 0; hop < 6; hop++) {
    const res = await fetch(url, { redirect: 'manual' });
    expect([302, 303]).toContain(res.status);
    const next = new URL(res.headers.get('location')!, url);
    if (!next.href.startsWith(stack.url) && !next.href.startsWith(fake.origin)) return next;
    url = next.href;
  }
  throw new Error('too many redirects');
}

beforeAll(async () => {
  fake = await startFakeProvider();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      SITE_URL: SITE,
      GITHUB_CLIENT_ID: 'github-client',
      GITHUB_CLIENT_SECRET: 'github-secret',
      GITHUB_AUTHORIZE_URL: `${fake.origin}/github/login/oauth/authorize`,
      GITHUB_TOKEN_URL: `${fake.origin}/github/login/oauth/access_token`,
      GITHUB_API_URL: `${fake.origin}/github/api`,
      GOOGLE_CLIENT_ID: 'google-client',
      GOOGLE_CLIENT_SECRET: 'google-secret',
      GOOGLE_AUTHORIZE_URL: `${fake.origin}/google/auth`,
      GOOGLE_TOKEN_URL: `${fake.origin}/google/token`,
      GOOGLE_USERINFO_URL: `${fake.origin}/google/userinfo`,
    },
  });
  ({ db, stack } = t);
  db.config.publicUrl = stack.url; // the callback URL the provider sends the browser back to
  admin = createClient(stack.url, db.config.serviceRoleKey, opts);
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

describe('GitHub', () => {
  it('PKCE: authorize → provider → callback → ?code= → exchangeCodeForSession, a new user with the GitHub identity', async () => {
    fake.next.github = { id: '4242', login: 'octo', name: 'Octo Cat', email: 'Octo@Example.com', verified: true };
    const sb = pkceClient();
    const { data, error } = await sb.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    expect(error).toBeNull();
    const authorize = new URL(data.url!);
    expect(authorize.searchParams.get('code_challenge')).toBeTruthy();
    const landed = await walk(data.url!);
    expect(`${landed.origin}${landed.pathname}`).toBe(`${SITE}/oauth`);
    const code = landed.searchParams.get('code')!;
    const { data: session, error: exErr } = await sb.auth.exchangeCodeForSession(code);
    expect(exErr).toBeNull();
    expect(session.session?.provider_token).toMatch(/^github-at-/);
    expect(session.user).toMatchObject({ email: 'octo@example.com', app_metadata: { provider: 'github', providers: ['github'] } });
    expect(session.user?.email_confirmed_at).toBeTruthy();
    expect(session.user?.user_metadata).toMatchObject({ user_name: 'octo', full_name: 'Octo Cat' });
    expect(session.user?.identities?.map((i) => [i.provider, i.id])).toEqual([['github', '4242']]);
    const claims = JSON.parse(Buffer.from(session.session!.access_token.split('.')[1], 'base64url').toString());
    expect(claims.amr[0].method).toBe('oauth');
    // The same GitHub account again signs in the same user.
    const again = pkceClient();
    const second = await again.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    const code2 = (await walk(second.data.url!)).searchParams.get('code')!;
    expect((await again.auth.exchangeCodeForSession(code2)).data.user?.id).toBe(session.user?.id);
    const replay = await fetch(`${stack.url}/auth/v1/token?grant_type=pkce`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
      body: JSON.stringify({ auth_code: code2, code_verifier: 'v'.repeat(43) }),
    });
    expect((await body(replay)).code).toBe('flow_state_not_found');
  });

  it('implicit: the session and provider token arrive in the fragment; a verified email links to the existing user', async () => {
    const existing = await admin.auth.admin.createUser({ email: 'ann@example.com', password: 'secret123', email_confirm: true });
    fake.next.github = { id: '7', login: 'ann', name: 'Ann', email: 'ann@example.com', verified: true };
    const { data } = await fresh().auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    expect(new URL(data.url!).searchParams.get('code_challenge')).toBeNull();
    const landed = await walk(data.url!);
    const fragment = new URLSearchParams(landed.hash.slice(1));
    expect(fragment.get('provider_token')).toMatch(/^github-at-/);
    expect(fragment.get('token_type')).toBe('bearer');
    const sb = fresh();
    await sb.auth.setSession({ access_token: fragment.get('access_token')!, refresh_token: fragment.get('refresh_token')! });
    const { data: me } = await sb.auth.getUser();
    expect(me.user?.id).toBe(existing.data.user!.id);
    expect(me.user?.identities?.map((i) => i.provider).sort()).toEqual(['email', 'github']);
    expect(me.user?.app_metadata.providers).toEqual(expect.arrayContaining(['email', 'github']));
    // The password still works: linking kept the account.
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' })).error).toBeNull();
  });

  it('an unverified provider email never takes over an existing account', async () => {
    fake.next.github = { id: '666', login: 'mallory', name: 'Mallory', email: 'ann@example.com', verified: false };
    const { data } = await fresh().auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    const landed = await walk(data.url!);
    const fragment = new URLSearchParams(landed.hash.slice(1));
    expect(fragment.get('error_code')).toBe('email_exists');
    expect(fragment.get('access_token')).toBeNull();
    expect((await db.admin.query(`select 1 from auth.identities where provider = 'github' and provider_id = '666'`)).rowCount).toBe(0);
  });

  it('an unverified provider email does not claim the address: its owner signing up later gets an account of their own', async () => {
    fake.next.github = { id: '667', login: 'mallory2', name: 'Mallory', email: 'vic@example.com', verified: false };
    const { data } = await fresh().auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    const mallory = new URLSearchParams((await walk(data.url!)).hash.slice(1));
    expect(mallory.get('access_token')).toBeTruthy();
    const malloryUser = (await fresh().auth.getUser(mallory.get('access_token')!)).data.user!;
    expect(malloryUser.email).toBeFalsy();
    expect(malloryUser.identities?.[0].identity_data?.email).toBe('vic@example.com');

    const vic = await fresh().auth.signUp({ email: 'vic@example.com', password: 'secret123' });
    expect(vic.error).toBeNull();
    expect(vic.data.user?.id).not.toBe(malloryUser.id);
    // Mallory's GitHub sign-in still lands in Mallory's own account.
    fake.next.github = { id: '667', login: 'mallory2', name: 'Mallory', email: 'vic@example.com', verified: false };
    const again = await fresh().auth.signInWithOAuth({ provider: 'github', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    const token = new URLSearchParams((await walk(again.data.url!)).hash.slice(1)).get('access_token')!;
    expect((await fresh().auth.getUser(token)).data.user?.id).toBe(malloryUser.id);
  });
});

describe('Google (OpenID Connect)', () => {
  it('PKCE with ID token and userinfo; provider refresh token passed through', async () => {
    fake.next.google = { id: 'g-123', login: '', name: 'Gina Google', email: 'gina@example.com', verified: true };
    const sb = pkceClient();
    const { data } = await sb.auth.signInWithOAuth({ provider: 'google', options: { redirectTo: `${SITE}/oauth`, skipBrowserRedirect: true } });
    const landed = await walk(data.url!);
    const { data: session, error } = await sb.auth.exchangeCodeForSession(landed.searchParams.get('code')!);
    expect(error).toBeNull();
    expect(session.session?.provider_refresh_token).toMatch(/^google-rt-/);
    expect(session.user).toMatchObject({ email: 'gina@example.com', app_metadata: { provider: 'google' }, user_metadata: { full_name: 'Gina Google', avatar_url: 'https://pics.test/me.png' } });
  });
});

describe('state, redirects and errors', () => {
  it('a forged or replayed state is refused; redirect_to outside the allow-list falls back to SITE_URL', async () => {
    const forged = await fetch(`${stack.url}/auth/v1/callback?code=abc&state=forged`, { redirect: 'manual' });
    expect(forged.status).toBe(303);
    const loc = new URL(forged.headers.get('location')!);
    expect(loc.origin).toBe(SITE);
    expect(new URLSearchParams(loc.hash.slice(1)).get('error_code')).toBe('bad_oauth_state');

    fake.next.github = { id: '4242', login: 'octo', name: 'Octo Cat', email: 'octo@example.com', verified: true };
    const { data } = await fresh().auth.signInWithOAuth({ provider: 'github', options: { redirectTo: 'https://evil.test/grab', skipBrowserRedirect: true } });
    // Walk by hand to keep the callback URL and replay it.
    const toProvider = (await fetch(data.url!, { redirect: 'manual' })).headers.get('location')!;
    const callback = (await fetch(toProvider, { redirect: 'manual' })).headers.get('location')!;
    const first = await fetch(callback, { redirect: 'manual' });
    expect(new URL(first.headers.get('location')!).origin).toBe(SITE);
    const replay = await fetch(callback, { redirect: 'manual' });
    expect(new URLSearchParams(new URL(replay.headers.get('location')!).hash.slice(1)).get('error_code')).toBe('bad_oauth_state');
  });

  it('unknown or unconfigured providers are a 400; /settings lists the enabled ones', async () => {
    const res = await fetch(`${stack.url}/auth/v1/authorize?provider=facebook`, { redirect: 'manual' });
    expect(res.status).toBe(400);
    const settings = await body(await fetch(`${stack.url}/auth/v1/settings`, { headers: { apikey: db.config.anonKey } }));
    expect(settings.external).toMatchObject({ github: true, google: true, email: true });
  });

  it('skip_http_redirect answers the provider URL as JSON', async () => {
    const res = await fetch(`${stack.url}/auth/v1/authorize?provider=github&skip_http_redirect=true`);
    expect(res.status).toBe(200);
    const { url } = await body(res);
    expect(url).toMatch(new RegExp(`^${fake.origin}/github/login/oauth/authorize\\?client_id=github-client&`));
  });
});
