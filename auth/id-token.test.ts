/**
 * signInWithIdToken for Google through auth-js: ID tokens the test signs itself with a key the
 * fake Google publishes (GOOGLE_JWKS_URL), verified for signature, issuer, lifetime, audience,
 * nonce and at_hash with GoTrue's answers; the account signs in, links by verified address, or —
 * with linkIdentity — joins the signed-in user.
 */
import { createHash } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import { generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startFakeProvider } from '../test/helpers/oauth-provider.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const CLIENT = 'google-client.apps.example';

let fake: Awaited<ReturnType<typeof startFakeProvider>>;
let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  fake = await startFakeProvider();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      AUTH_MANUAL_LINKING: 'true',
      GOOGLE_CLIENT_ID: CLIENT,
      GOOGLE_CLIENT_SECRET: 'google-secret',
      GOOGLE_JWKS_URL: `${fake.origin}/google/jwks`,
    },
  });
  ({ db, stack } = t);
});

afterAll(async () => {
  await t?.close();
  await fake?.close();
});

describe('signInWithIdToken (Google)', () => {
  it('a valid ID token signs its Google account in: a new user with the google identity, amr oauth', async () => {
    const token = await fake.signIdToken({ sub: 'g-100', aud: CLIENT, email: 'Gina@Example.com', email_verified: true, name: 'Gina', picture: 'https://pics.test/g.png' });
    const { data, error } = await fresh().auth.signInWithIdToken({ provider: 'google', token });
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ email: 'gina@example.com', app_metadata: { provider: 'google', providers: ['google'] }, user_metadata: { full_name: 'Gina', email_verified: true } });
    expect(data.user?.identities?.map((i) => [i.provider, i.id])).toEqual([['google', 'g-100']]);
    expect(claimsOf(data.session!.access_token)).toMatchObject({ sub: data.user!.id, aal: 'aal1', amr: [{ method: 'oauth' }] });
    // The same account again is the same user.
    const again = await fresh().auth.signInWithIdToken({ provider: 'google', token: await fake.signIdToken({ sub: 'g-100', aud: CLIENT, email: 'gina@example.com', email_verified: true }) });
    expect(again.data.user?.id).toBe(data.user!.id);
  });

  it('the nonce: both or neither, and the token carries its sha256', async () => {
    const withNonce = await fake.signIdToken({ sub: 'g-200', aud: CLIENT, nonce: sha256hex('n-1') });
    expect((await fresh().auth.signInWithIdToken({ provider: 'google', token: withNonce, nonce: 'n-1' })).error).toBeNull();
    const wrong = await fresh().auth.signInWithIdToken({ provider: 'google', token: withNonce, nonce: 'n-2' });
    expect(wrong.error).toMatchObject({ status: 400, message: 'Nonces mismatch' });
    const missing = await fresh().auth.signInWithIdToken({ provider: 'google', token: withNonce });
    expect(missing.error).toMatchObject({ status: 400, message: 'Passed nonce and nonce in id_token should either both exist or not.' });
    const unexpected = await fresh().auth.signInWithIdToken({ provider: 'google', token: await fake.signIdToken({ sub: 'g-200', aud: CLIENT }), nonce: 'n-1' });
    expect(unexpected.error).toMatchObject({ status: 400, message: 'Passed nonce and nonce in id_token should either both exist or not.' });
  });

  it('refuses tokens of another audience, signer or issuer, expired ones and a wrong at_hash, in GoTrue\'s OAuth error shape', async () => {
    const audience = await fresh().auth.signInWithIdToken({ provider: 'google', token: await fake.signIdToken({ sub: 'g-300', aud: 'someone-else' }) });
    expect(audience.error).toMatchObject({ status: 400, message: 'Unacceptable audience in id_token: [someone-else]' });
    const { privateKey: stranger } = await generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const bad = [
      await fake.signIdToken({ sub: 'g-300', aud: CLIENT }, stranger),
      await fake.signIdToken({ sub: 'g-300', aud: CLIENT, iss: 'https://evil.example' }),
      await fake.signIdToken({ sub: 'g-300', aud: CLIENT, iat: now - 7200, exp: now - 3600 }),
      'not-a-jwt',
    ];
    for (const token of bad) {
      const res = await fresh().auth.signInWithIdToken({ provider: 'google', token });
      expect(res.error).toMatchObject({ status: 400, message: 'Bad ID token' });
    }
    const atHash = createHash('sha256').update('the-access-token').digest().subarray(0, 16).toString('base64url');
    const withHash = await fake.signIdToken({ sub: 'g-301', aud: CLIENT, at_hash: atHash });
    expect((await fresh().auth.signInWithIdToken({ provider: 'google', token: withHash, access_token: 'another-token' })).error).toMatchObject({ message: 'Bad ID token' });
    expect((await fresh().auth.signInWithIdToken({ provider: 'google', token: withHash, access_token: 'the-access-token' })).error).toBeNull();
    // The raw answer is GoTrue's OAuthError.
    const raw = await fetch(`${stack.url}/auth/v1/token?grant_type=id_token`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
      body: JSON.stringify({ provider: 'google', id_token: 'not-a-jwt' }),
    });
    expect([raw.status, await raw.json()]).toEqual([400, { error: 'invalid request', error_description: 'Bad ID token' }]);
    expect((await db.admin.query(`select 1 from auth.identities where provider_id = 'g-300'`)).rowCount).toBe(0);
  });

  it('a verified address of an existing user signs that user in; an unverified one does not take it', async () => {
    const { data: existing } = await fresh().auth.signUp({ email: 'pat@example.com', password: 'secret123' });
    const verified = await fresh().auth.signInWithIdToken({ provider: 'google', token: await fake.signIdToken({ sub: 'g-400', aud: CLIENT, email: 'pat@example.com', email_verified: true }) });
    expect(verified.data.user?.id).toBe(existing.user!.id);
    const unverified = await fresh().auth.signInWithIdToken({ provider: 'google', token: await fake.signIdToken({ sub: 'g-401', aud: CLIENT, email: 'pat@example.com', email_verified: false }) });
    expect(unverified.error).toMatchObject({ status: 422, code: 'email_exists' });
  });

  it('linkIdentity with an ID token joins the signed-in user; linking needs a user token', async () => {
    const sb = fresh();
    const { data: me } = await sb.auth.signUp({ email: 'lee@example.com', password: 'secret123' });
    const token = await fake.signIdToken({ sub: 'g-500', aud: CLIENT, email: 'lee.google@example.com', email_verified: true });
    const linked = await sb.auth.linkIdentity({ provider: 'google', token });
    expect(linked.error).toBeNull();
    expect(linked.data.user?.id).toBe(me.user!.id);
    expect((await sb.auth.getUserIdentities()).data!.identities.map((i) => i.provider)).toEqual(['email', 'google']);
    expect((await sb.auth.getUser()).data.user?.email).toBe('lee@example.com');

    const anonymous = await fetch(`${stack.url}/auth/v1/token?grant_type=id_token`, {
      method: 'POST',
      headers: { apikey: db.config.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'google', id_token: token, link_identity: true }),
    });
    expect([anonymous.status, await anonymous.json()]).toEqual([400, { error: 'invalid request', error_description: 'Linking requires a valid user access token in Authorization' }]);
  });
});
