/**
 * signInWithIdToken for Apple, Azure and Facebook through auth-js: each provider's keys published
 * by a local JWKS server (APPLE_/AZURE_/FACEBOOK_JWKS_URL), tokens the test signs, and GoTrue's
 * rules — Apple's two issuers, Azure's tenant issuer and xms_edov, Facebook without the nonce
 * check, audiences from the client id lists, another provider's key or issuer refused.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from '@supabase/supabase-js';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const TENANT = 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0';
type Key = Awaited<ReturnType<typeof generateKeyPair>>;

let keys: Record<'apple' | 'azure' | 'facebook', Key>;
let server: http.Server;
let t: TestStack;
const fresh = () => createClient(t.stack.url, t.db.config.anonKey, opts);
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

function sign(provider: keyof typeof keys, claims: JWTPayload) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'RS256', kid: provider }).sign(keys[provider].privateKey);
}

beforeAll(async () => {
  keys = { apple: await generateKeyPair('RS256'), azure: await generateKeyPair('RS256'), facebook: await generateKeyPair('RS256') };
  const published = Object.fromEntries(await Promise.all(Object.entries(keys).map(async ([name, k]) => [`/${name}/keys`, { keys: [{ ...(await exportJWK(k.publicKey)), kid: name, alg: 'RS256', use: 'sig' }] }])));
  server = http.createServer((req, res) => {
    const body = published[req.url ?? ''];
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      APPLE_CLIENT_ID: 'com.acme.web, com.acme.ios',
      APPLE_JWKS_URL: `${origin}/apple/keys`,
      AZURE_CLIENT_ID: 'azure-app-1',
      AZURE_JWKS_URL: `${origin}/azure/keys`,
      FACEBOOK_CLIENT_ID: '1234567890',
      FACEBOOK_JWKS_URL: `${origin}/facebook/keys`,
    },
  });
});

afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

describe('signInWithIdToken: Apple, Azure, Facebook', () => {
  it('Apple: either Apple issuer, any listed audience, nonce as sha256; the address verified; custom claims kept', async () => {
    const token = await sign('apple', { iss: 'https://appleid.apple.com', sub: 'apple-1', aud: 'com.acme.ios', email: 'Ann@privaterelay.appleid.com', is_private_email: 'true', nonce: createHash('sha256').update('n-1').digest('hex') });
    const { data, error } = await fresh().auth.signInWithIdToken({ provider: 'apple', token, nonce: 'n-1' });
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ email: 'ann@privaterelay.appleid.com', app_metadata: { provider: 'apple' }, user_metadata: { custom_claims: { is_private_email: 'true' } } });
    expect(data.user?.email_confirmed_at).toBeTruthy();
    expect(claimsOf(data.session!.access_token).amr[0].method).toBe('oauth');
    const other = await sign('apple', { iss: 'https://account.apple.com', sub: 'apple-1', aud: 'com.acme.web' });
    expect((await fresh().auth.signInWithIdToken({ provider: 'apple', token: other })).data.user?.id).toBe(data.user!.id);
    const settings = (await (await fetch(`${t.stack.url}/auth/v1/settings`, { headers: { apikey: t.db.config.anonKey } })).json()) as { external: Record<string, boolean> };
    expect(settings.external).toMatchObject({ apple: true, azure: true, facebook: true, google: false });
  });

  it('Azure: the tenant issuer the token names; xms_edov decides whether the address is verified', async () => {
    const token = await sign('azure', { iss: TENANT, sub: 'az-1', aud: 'azure-app-1', email: 'bo@contoso.test', name: 'Bo', preferred_username: 'bo@contoso.test', tid: '9188040d', xms_edov: true });
    const { data, error } = await fresh().auth.signInWithIdToken({ provider: 'azure', token });
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ email: 'bo@contoso.test', app_metadata: { provider: 'azure' }, user_metadata: { full_name: 'Bo', custom_claims: { tid: '9188040d', email: 'bo@contoso.test' } } });
    // Unverified by xms_edov, an address that is a user's already is not linked to.
    const unverified = await sign('azure', { iss: TENANT, sub: 'az-2', aud: 'azure-app-1', email: 'bo@contoso.test', xms_edov: '0' });
    expect((await fresh().auth.signInWithIdToken({ provider: 'azure', token: unverified })).error).toMatchObject({ code: 'email_exists' });
    // By issuer and client_id instead of provider.
    const res = await fetch(`${t.stack.url}/auth/v1/token?grant_type=id_token`, {
      method: 'POST',
      headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ id_token: token, issuer: TENANT, client_id: 'azure-app-1' }),
    });
    expect(res.status).toBe(200);
  });

  it('Facebook: Limited Login tokens without the nonce check', async () => {
    const token = await sign('facebook', { iss: 'https://www.facebook.com', sub: 'fb-1', aud: '1234567890', email: 'cy@example.com', name: 'Cy', nonce: 'whatever-the-app-sent' });
    const { data, error } = await fresh().auth.signInWithIdToken({ provider: 'facebook', token });
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ email: 'cy@example.com', app_metadata: { provider: 'facebook' }, user_metadata: { name: 'Cy' } });
  });

  it("refuses another audience, another provider's key or issuer, and expired tokens", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [Parameters<ReturnType<typeof fresh>['auth']['signInWithIdToken']>[0], string][] = [
      [{ provider: 'apple', token: await sign('apple', { iss: 'https://appleid.apple.com', sub: 'x', aud: 'com.evil' }) }, 'Unacceptable audience in id_token: [com.evil]'],
      [{ provider: 'apple', token: await sign('azure', { iss: 'https://appleid.apple.com', sub: 'x', aud: 'com.acme.web' }) }, 'Bad ID token'],
      [{ provider: 'apple', token: await sign('apple', { iss: 'https://evil.test', sub: 'x', aud: 'com.acme.web' }) }, 'Detected ID token issuer is not an Apple ID token issuer'],
      [{ provider: 'azure', token: await sign('facebook', { iss: TENANT, sub: 'x', aud: 'azure-app-1' }) }, 'Bad ID token'],
      [{ provider: 'facebook', token: await sign('facebook', { iss: 'https://www.facebook.com', sub: 'x', aud: '1234567890', iat: now - 7200, exp: now - 3600 }) }, 'Bad ID token'],
      [{ provider: 'facebook', token: await sign('facebook', { iss: 'https://limited.evil.test', sub: 'x', aud: '1234567890' }) }, 'Bad ID token'],
    ];
    for (const [params, message] of cases) expect([message, (await fresh().auth.signInWithIdToken(params)).error?.message]).toEqual([message, message]);
  });
});
