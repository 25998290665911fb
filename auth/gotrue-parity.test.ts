/**
 * GoTrue's answers where this build differs from a full Supabase Auth or where input is bad, through
 * auth-js where it is the client: address validation in the admin API, listUsers' order and
 * pagination (Link, X-Total-Count, refused page/per_page), verifyOtp and resend for phones without
 * an SMS provider, and the words of switched-off features (SAML SSO, manual identity linking,
 * OAuth and ID-token providers that are not configured, Web3).
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const INVALID_FORMAT = 'Unable to validate email address: invalid format';

let t: TestStack;
let db: TestDatabase;
let url: string;
let admin: SupabaseClient;
const fresh = () => createClient(url, db.config.anonKey, opts);

/** A raw request to /auth/v1 (modern error shape unless `legacy`). */
async function call(method: string, path: string, o: { key?: string; json?: unknown; legacy?: boolean } = {}) {
  const res = await fetch(`${url}/auth/v1${path}`, {
    method,
    redirect: 'manual',
    headers: {
      apikey: db.config.anonKey,
      authorization: `Bearer ${o.key ?? db.config.anonKey}`,
      'content-type': 'application/json',
      ...(o.legacy ? {} : { 'x-supabase-api-version': '2024-01-01' }),
    },
    body: o.json === undefined ? undefined : JSON.stringify(o.json),
  });
  return { status: res.status, headers: res.headers, body: await body(res) };
}

const userCount = async () => Number((await db.admin.query(`select count(*) from auth.users`)).rows[0].count);

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true' } });
  ({ db } = t);
  url = t.stack.url;
  admin = createClient(url, db.config.serviceRoleKey, opts);
});
afterAll(() => t?.close());

describe('admin API: addresses are validated as GoTrue does', () => {
  // auth-js's own suite uses 'xx:;x@x.x'; the others break the same grammar elsewhere.
  const invalid = ['xx:;x@x.x', 'a', 'a b@example.com', 'ann@exa_mple.com', 'ann@-example.com', 'ann@example..com', '"ann"@example.com', 'ann@'];

  it('createUser, inviteUserByEmail and generateLink refuse a malformed address with 400 validation_failed and create nothing', async () => {
    const before = await userCount();
    for (const email of invalid) {
      const created = await admin.auth.admin.createUser({ email, password: 'password123' });
      expect([email, created.error?.status, created.error?.code, created.error?.message, created.data.user]).toEqual([email, 400, 'validation_failed', INVALID_FORMAT, null]);
      const invited = await admin.auth.admin.inviteUserByEmail(email);
      expect([email, invited.error?.status, invited.error?.message, invited.data.user]).toEqual([email, 400, INVALID_FORMAT, null]);
      const link = await admin.auth.admin.generateLink({ type: 'signup', email, password: 'password123' });
      expect([email, link.error?.status, link.error?.message, link.data.properties]).toEqual([email, 400, INVALID_FORMAT, null]);
      const magic = await admin.auth.admin.generateLink({ type: 'magiclink', email });
      expect([email, magic.error?.message]).toEqual([email, INVALID_FORMAT]);
    }
    expect(await userCount()).toBe(before);
  });

  it('an address over 255 characters, or none at all, gets GoTrue\'s own sentence', async () => {
    const long = `${'a'.repeat(250)}@example.com`;
    expect((await admin.auth.admin.createUser({ email: long })).error).toMatchObject({ status: 400, message: 'An email address is too long' });
    expect((await admin.auth.admin.createUser({ password: 'password123' })).error).toMatchObject({ status: 400, message: 'Cannot create a user without either an email or phone' });
  });

  it('addresses GoTrue accepts are accepted (atext in the local part, a dotless domain)', async () => {
    for (const email of ["o'brien+tag@example.com", 'ann@localhost', 'x.y-z@sub.example-mail.org']) {
      const { data, error } = await admin.auth.admin.createUser({ email, email_confirm: true });
      expect([email, error]).toEqual([email, null]);
      expect(data.user?.email).toBe(email);
    }
  });
});

describe('bad tokens', () => {
  it('signOut with a token that is no JWT gets GoTrue\'s 403 bad_jwt "invalid JWT: …", also through the gateway', async () => {
    const admin = createClient(t.stack.url, t.db.config.serviceRoleKey, { auth: { persistSession: false } });
    const { error } = await admin.auth.admin.signOut('this-is-a-bad-token');
    expect(error).toMatchObject({ status: 403, code: 'bad_jwt' });
    expect(error!.message).toMatch(/^invalid JWT/);
  });
});

describe('admin listUsers', () => {
  const emails = ['list-old@example.com', 'list-mid@example.com', 'list-new@example.com'];

  beforeAll(async () => {
    await db.admin.query(`delete from auth.users`);
    for (const email of emails) await admin.auth.admin.createUser({ email, email_confirm: true });
    // Distinct creation times, inserted out of order.
    await db.admin.query(
      `update auth.users set created_at = v.at from (values ($1, timestamptz '2021-01-01'), ($2, '2022-01-01'), ($3, '2023-01-01')) v(email, at) where users.email = v.email`,
      emails,
    );
  });

  it('lists newest first, pages with Link/X-Total-Count that auth-js reads', async () => {
    const all = await admin.auth.admin.listUsers();
    expect(all.error).toBeNull();
    expect(all.data.users.map((u) => u.email)).toEqual(['list-new@example.com', 'list-mid@example.com', 'list-old@example.com']);
    const first = await admin.auth.admin.listUsers({ page: 1, perPage: 2 });
    expect(first.data.users.map((u) => u.email)).toEqual(['list-new@example.com', 'list-mid@example.com']);
    expect(first.data).toMatchObject({ aud: 'authenticated', nextPage: 2, lastPage: 2, total: 3 });
    const second = await admin.auth.admin.listUsers({ page: 2, perPage: 2 });
    expect(second.data.users.map((u) => u.email)).toEqual(['list-old@example.com']);
    expect(second.data).toMatchObject({ nextPage: null, lastPage: 2, total: 3 });

    const raw = await call('GET', '/admin/users?per_page=1&page=2', { key: db.config.serviceRoleKey });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('x-total-count')).toBe('3');
    expect(raw.headers.get('link')).toBe('</admin/users?page=3&per_page=1>; rel="next", </admin/users?page=3&per_page=1>; rel="last"');
    expect(raw.body.users.map((u: { email: string }) => u.email)).toEqual(['list-mid@example.com']);
    // Past the last page: no users, the count and links still right.
    const past = await call('GET', '/admin/users?page=18446744073709551615&per_page=1000000', { key: db.config.serviceRoleKey });
    expect([past.status, past.body.users, past.headers.get('x-total-count')]).toEqual([200, [], '3']);
    expect(past.headers.get('link')).toBe('</admin/users?page=1&per_page=1000000>; rel="last"');
  });

  it('sort=created_at asc lists oldest first; other sort fields are refused', async () => {
    const asc = await call('GET', '/admin/users?sort=created_at%20asc', { key: db.config.serviceRoleKey });
    expect(asc.body.users.map((u: { email: string }) => u.email)).toEqual(['list-old@example.com', 'list-mid@example.com', 'list-new@example.com']);
    const bad = await call('GET', '/admin/users?sort=email', { key: db.config.serviceRoleKey });
    expect([bad.status, bad.body]).toEqual([400, { code: 'validation_failed', message: "Bad Sort Parameters: bad field for sort 'email'" }]);
  });

  it('refuses page/per_page that are not unsigned integers, as GoTrue (strconv.ParseUint)', async () => {
    const viaClient = await admin.auth.admin.listUsers({ page: -1, perPage: 10 });
    expect(viaClient.error).toMatchObject({ status: 400, code: 'validation_failed' });
    expect(viaClient.data.users).toEqual([]);
    for (const [query, value, why] of [
      ['page=-1', '-1', 'invalid syntax'],
      ['page=abc', 'abc', 'invalid syntax'],
      ['page=1.5', '1.5', 'invalid syntax'],
      ['per_page=1e3', '1e3', 'invalid syntax'],
      ['per_page=%2B5', '+5', 'invalid syntax'],
      ['page=18446744073709551616', '18446744073709551616', 'value out of range'],
    ]) {
      const res = await call('GET', `/admin/users?${query}`, { key: db.config.serviceRoleKey, legacy: true });
      expect([query, res.status, res.body]).toEqual([
        query,
        400,
        { code: 400, error_code: 'validation_failed', msg: `Bad Pagination Parameters: strconv.ParseUint: parsing "${value}": ${why}` },
      ]);
    }
  });
});

describe('phones without an SMS provider', () => {
  it('verifyOtp with sms / phone_change: "Token has expired or is invalid" (no code was ever sent), after GoTrue\'s shape checks', async () => {
    for (const type of ['sms', 'phone_change'] as const) {
      const { data, error } = await fresh().auth.verifyOtp({ phone: '+1 555 555 0100', token: '123456', type });
      expect([type, error?.status, error?.code, error?.message]).toEqual([type, 403, 'otp_expired', 'Token has expired or is invalid']);
      expect(data.session).toBeNull();
      const badPhone = await fresh().auth.verifyOtp({ phone: '12ab', token: '123456', type });
      expect(badPhone.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'Invalid phone number format (E.164 required)' });
      const hash = await fresh().auth.verifyOtp({ token_hash: 'abc', type });
      expect(hash.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'Invalid email verification type' });
    }
    const both = await call('POST', '/verify', { json: { type: 'sms', phone: '15555550100', email: 'a@example.com', token: '123456' } });
    expect([both.status, both.body.message]).toEqual([400, 'Only an email address or phone number should be provided on verify']);
    const neither = await call('POST', '/verify', { json: { type: 'sms' } });
    expect([neither.status, neither.body.message]).toEqual([400, 'Verify requires either a token or a token hash']);
  });

  it('sign-up, password sign-in and resend by phone say phone is off, in GoTrue\'s words', async () => {
    const signUp = await fresh().auth.signUp({ phone: '+15555550100', password: 'secret123' });
    expect(signUp.error).toMatchObject({ status: 400, code: 'phone_provider_disabled', message: 'Phone signups are disabled' });
    const signIn = await fresh().auth.signInWithPassword({ phone: '+15555550100', password: 'secret123' });
    expect(signIn.error).toMatchObject({ status: 422, code: 'phone_provider_disabled', message: 'Phone logins are disabled' });
    const resend = await fresh().auth.resend({ type: 'sms', phone: '+15555550100' });
    expect(resend.error).toMatchObject({ status: 400, code: 'phone_provider_disabled', message: 'Phone logins are disabled' });
    const otp = await fresh().auth.signInWithOtp({ phone: '+15555550100' });
    expect(otp.error).toMatchObject({ status: 400, code: 'phone_provider_disabled', message: 'Unsupported phone provider' });
  });
});

describe('switched-off features answer with GoTrue\'s words', () => {
  it('SAML SSO: 404 saml_provider_disabled "SAML 2.0 is disabled" on every /sso route', async () => {
    for (const params of [{ domain: 'example.com' }, { providerId: '00000000-0000-4000-8000-000000000001' }]) {
      const { data, error } = await fresh().auth.signInWithSSO(params);
      expect(error).toMatchObject({ status: 404, code: 'saml_provider_disabled', message: 'SAML 2.0 is disabled' });
      expect(data).toBeNull();
    }
    for (const [method, path] of [['GET', '/sso/saml/metadata'], ['POST', '/sso/saml/acs']]) {
      const res = await call(method, path);
      expect([path, res.status, res.body]).toEqual([path, 404, { code: 'saml_provider_disabled', message: 'SAML 2.0 is disabled' }]);
    }
  });

  it('manual linking: linkIdentity and unlinkIdentity answer 404 manual_linking_disabled once the session is checked', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ email: 'linker@example.com', password: 'secret123' })).error).toBeNull();
    const link = await sb.auth.linkIdentity({ provider: 'github' });
    expect(link.error).toMatchObject({ status: 404, code: 'manual_linking_disabled', message: 'Manual linking is disabled' });
    const { data: ids } = await sb.auth.getUserIdentities();
    expect(ids?.identities.length).toBe(1);
    const unlink = await sb.auth.unlinkIdentity(ids!.identities[0]);
    expect(unlink.error).toMatchObject({ status: 404, code: 'manual_linking_disabled', message: 'Manual linking is disabled' });
    expect((await sb.auth.getUserIdentities()).data?.identities.length).toBe(1);
    // Without a user's session the session check answers first.
    const anon = await call('GET', '/user/identities/authorize?provider=github&skip_http_redirect=true');
    expect(anon.status).toBe(403);
    expect(anon.body.code).not.toBe('manual_linking_disabled');
  });

  it('OAuth providers that are not configured: "Unsupported provider: provider is not enabled" (unknown ones: could not be found)', async () => {
    for (const [provider, message] of [
      ['github', 'Unsupported provider: provider is not enabled'],
      ['GitHub', 'Unsupported provider: provider is not enabled'],
      ['apple', 'Unsupported provider: provider is not enabled'],
      ['linkedin_oidc', 'Unsupported provider: provider is not enabled'],
      ['nope', 'Unsupported provider: Provider nope could not be found'],
      ['custom:corp', 'Unsupported provider: custom OAuth providers are disabled'],
    ]) {
      const res = await call('GET', `/authorize?provider=${encodeURIComponent(provider)}&skip_http_redirect=true`);
      expect([provider, res.status, res.body]).toEqual([provider, 400, { code: 'validation_failed', message }]);
    }
  });

  it('signInWithIdToken for a provider that is not enabled: 400 provider_disabled with the issuer GoTrue names', async () => {
    const google = await fresh().auth.signInWithIdToken({ provider: 'google', token: 'mock-id-token', nonce: 'mock-nonce' });
    expect(google.error).toMatchObject({ status: 400, code: 'provider_disabled', message: 'Provider (issuer "https://accounts.google.com") is not enabled' });
    expect(google.data.session).toBeNull();
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const appleToken = `${part({ alg: 'RS256' })}.${part({ iss: 'https://appleid.apple.com', sub: 'x' })}.sig`;
    const apple = await fresh().auth.signInWithIdToken({ provider: 'apple', token: appleToken });
    expect(apple.error).toMatchObject({ status: 400, code: 'provider_disabled', message: 'Provider (issuer "https://appleid.apple.com") is not enabled' });
    const notApple = await fresh().auth.signInWithIdToken({ provider: 'apple', token: 'mock-id-token' });
    expect(notApple.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'Unable to detect issuer in ID token for Apple provider' });
    const custom = await fresh().auth.signInWithIdToken({ provider: 'custom:my-oidc-provider' as 'google', token: 'mock-id-token' });
    expect(custom.error).toMatchObject({ status: 400, message: 'Custom OAuth providers are disabled' });
  });

  it('signInWithWeb3: 422 web3_provider_disabled "Web3 provider is disabled"', async () => {
    for (const chain of ['solana', 'ethereum'] as const) {
      const { data, error } = await fresh().auth.signInWithWeb3({ chain, message: 'test message', signature: chain === 'solana' ? new Uint8Array([1, 2, 3]) : '0x00' } as never);
      expect([chain, error?.status, error?.code, error?.message]).toEqual([chain, 422, 'web3_provider_disabled', 'Web3 provider is disabled']);
      expect(data.session).toBeNull();
    }
  });
});
