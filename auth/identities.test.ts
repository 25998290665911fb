/**
 * Manual identity linking through auth-js with AUTH_MANUAL_LINKING=true: linkIdentity walks the
 * signed-in user (or an anonymous one) through a fake GitHub/Google and back, the identity joins
 * that user; unlinkIdentity removes one (never the last), the address following the identities
 * left — GoTrue's shapes and codes.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startFakeProvider } from '../test/helpers/oauth-provider.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const SITE = 'http://app.test';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);

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

/** linkIdentity for `sb` through the fake provider; the URL the browser lands on. */
async function link(sb: SupabaseClient, provider: 'github' | 'google'): Promise<URL> {
  const { data, error } = await sb.auth.linkIdentity({ provider, options: { redirectTo: `${SITE}/linked`, skipBrowserRedirect: true } });
  expect(error).toBeNull();
  expect(data.url).toMatch(new RegExp(`^${fake.origin}/`));
  return walk(data.url!);
}

const fragment = (url: URL) => new URLSearchParams(url.hash.slice(1));
const providersOf = async (sb: SupabaseClient) => (await sb.auth.getUser()).data.user!.app_metadata.providers;

beforeAll(async () => {
  fake = await startFakeProvider();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      AUTH_MANUAL_LINKING: 'true',
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
  db.config.publicUrl = stack.url;
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

describe('linkIdentity', () => {
  it('links a GitHub identity to the signed-in user, who comes back signed in with both', async () => {
    const sb = fresh();
    const { data: signup } = await sb.auth.signUp({ email: 'lin@example.com', password: 'secret123' });
    fake.next.github = { id: '7001', login: 'lin', name: 'Lin', email: 'lin-gh@example.com', verified: true };
    const landed = await link(sb, 'github');
    expect(landed.origin + landed.pathname).toBe(`${SITE}/linked`);
    const back = createClient(stack.url, db.config.anonKey, opts);
    const { data: session, error } = await back.auth.setSession({ access_token: fragment(landed).get('access_token')!, refresh_token: fragment(landed).get('refresh_token')! });
    expect(error).toBeNull();
    expect(session.user?.id).toBe(signup.user!.id);
    const ids = (await sb.auth.getUserIdentities()).data!.identities;
    expect(ids.map((i) => [i.provider, i.id])).toEqual([['email', signup.user!.id], ['github', '7001']]);
    expect(await providersOf(sb)).toEqual(['email', 'github']);
    // The user keeps its own address.
    expect((await sb.auth.getUser()).data.user?.email).toBe('lin@example.com');
  });

  it('an identity already linked, to this user or another, is refused with identity_already_exists', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithPassword({ email: 'lin@example.com', password: 'secret123' })).error).toBeNull();
    fake.next.github = { id: '7001', login: 'lin', name: 'Lin', email: 'lin-gh@example.com', verified: true };
    const again = fragment(await link(sb, 'github'));
    expect([again.get('error_code'), again.get('error_description')]).toEqual(['identity_already_exists', 'Identity is already linked']);

    const other = fresh();
    expect((await other.auth.signUp({ email: 'other@example.com', password: 'secret123' })).error).toBeNull();
    const taken = fragment(await link(other, 'github'));
    expect([taken.get('error_code'), taken.get('error_description')]).toEqual(['identity_already_exists', 'Identity is already linked to another user']);
    expect((await other.auth.getUserIdentities()).data!.identities.map((i) => i.provider)).toEqual(['email']);
  });

  it('an anonymous user linking Google with a verified address becomes a permanent user with that address', async () => {
    const sb = fresh();
    const { data: anon } = await sb.auth.signInAnonymously();
    expect(anon.user?.is_anonymous).toBe(true);
    fake.next.google = { id: 'g-8001', login: '', name: 'Ana', email: 'ana@example.com', verified: true };
    const landed = fragment(await link(sb, 'google'));
    expect(landed.get('error')).toBeNull();
    const claims = JSON.parse(Buffer.from(landed.get('access_token')!.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ sub: anon.user!.id, is_anonymous: false, email: 'ana@example.com' });
    const user = (await sb.auth.getUser()).data.user!;
    expect(user).toMatchObject({ email: 'ana@example.com', is_anonymous: false, email_confirmed_at: expect.any(String) });
    expect(user.app_metadata.providers).toEqual(['google']);
  });
});

describe('unlinkIdentity', () => {
  it('removes one identity, refuses the last, and refuses ids that are not the user\'s', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithPassword({ email: 'lin@example.com', password: 'secret123' })).error).toBeNull();
    const ids = (await sb.auth.getUserIdentities()).data!.identities;
    const github = ids.find((i) => i.provider === 'github')!;
    const gone = await sb.auth.unlinkIdentity(github);
    expect(gone.error).toBeNull();
    expect((await sb.auth.getUserIdentities()).data!.identities.map((i) => i.provider)).toEqual(['email']);
    expect(await providersOf(sb)).toEqual(['email']);
    expect((await db.admin.query(`select 1 from auth.identities where provider = 'github' and provider_id = '7001'`)).rowCount).toBe(0);

    const last = await sb.auth.unlinkIdentity(ids.find((i) => i.provider === 'email')!);
    expect(last.error).toMatchObject({ status: 422, code: 'single_identity_not_deletable', message: 'User must have at least 1 identity after unlinking' });

    fake.next.github = { id: '7002', login: 'lin2', name: 'Lin', email: 'lin-gh@example.com', verified: true };
    await link(sb, 'github');
    const foreign = (await db.admin.query(`select id from auth.identities where provider = 'google' limit 1`)).rows[0].id as string;
    const notMine = await sb.auth.unlinkIdentity({ ...github, identity_id: foreign });
    expect(notMine.error).toMatchObject({ status: 422, code: 'identity_not_found', message: "Identity doesn't exist" });
    const token = (await sb.auth.getSession()).data.session!.access_token;
    const res = await fetch(`${stack.url}/auth/v1/user/identities/not-a-uuid`, { method: 'DELETE', headers: { apikey: db.config.anonKey, authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { msg: string }).msg).toBe('identity_id must be an UUID');
  });

  it('unlinking the identity the address came from moves the user to the address of a verified identity left', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithPassword({ email: 'lin@example.com', password: 'secret123' })).error).toBeNull();
    const email = (await sb.auth.getUserIdentities()).data!.identities.find((i) => i.provider === 'email')!;
    expect((await sb.auth.unlinkIdentity(email)).error).toBeNull();
    const user = (await sb.auth.getUser()).data.user!;
    expect(user.email).toBe('lin-gh@example.com');
    expect(user.email_confirmed_at).toBeTruthy();
    expect(user.app_metadata).toMatchObject({ provider: 'github', providers: ['github'] });
  });
});
