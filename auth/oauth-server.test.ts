/**
 * The OAuth 2.1 / OIDC server end to end, as a third-party app and the project's own app use it:
 * clients managed through auth-js `auth.admin.oauth`, the browser sent to /oauth/authorize, the
 * consent page approving through auth-js `auth.oauth`, the app exchanging the code (PKCE, client
 * secret) at /oauth/token without an apikey, the access token used against REST under RLS, the
 * refresh, userinfo and the ID token verified against the published JWKS. Refusals in OAuth's
 * and GoTrue's shapes; other users (of another tenant) never see a request that is not theirs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import fc from 'fast-check';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../config/keys.ts';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { buildAuthApp } from './service.ts';

const SITE = 'http://app.test';
const APP_CB = 'https://thirdparty.example/callback';
const NATIVE_CB = 'http://localhost:5555/cb';
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
let alice: SupabaseClient;
let bob: SupabaseClient;
let aliceId: string;
let confidential: { client_id: string; client_secret: string };
let publicClient: { client_id: string };

const base64url = (b: Buffer) => b.toString('base64url');
function pkce() {
  const verifier = base64url(randomBytes(32));
  return { verifier, challenge: base64url(createHash('sha256').update(verifier).digest()) };
}
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** The browser's first hop: /oauth/authorize, no apikey. */
async function authorize(params: Record<string, string>): Promise<Response> {
  return fetch(`${stack.url}/auth/v1/oauth/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
}

/** A pending request of `client` for the consent page: its authorization_id and the verifier. */
async function startAuthorization(clientId: string, redirectUri: string, extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const res = await authorize({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', state: 'st-1', ...extra });
  expect(res.status).toBe(302);
  const consent = new URL(res.headers.get('location')!);
  expect(`${consent.origin}${consent.pathname}`).toBe(`${SITE}/oauth/consent`);
  return { authorizationId: consent.searchParams.get('authorization_id')!, verifier };
}

/**
 * The app's back channel: POST /oauth/token, form-encoded, no apikey. A third party sends no
 * X-Supabase-Api-Version, so GoTrue's refusals come in their legacy shape (`error_code`, `msg`).
 */
async function token(form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${stack.url}/auth/v1/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
}

/** Through consent to a code (alice approves through auth-js). */
async function codeFor(user: SupabaseClient, clientId: string, redirectUri: string, extra: Record<string, string> = {}) {
  const { authorizationId, verifier } = await startAuthorization(clientId, redirectUri, extra);
  const details = await user.auth.oauth.getAuthorizationDetails(authorizationId);
  expect(details.error).toBeNull();
  const url = 'redirect_url' in details.data! ? details.data.redirect_url : (await user.auth.oauth.approveAuthorization(authorizationId, { skipBrowserRedirect: true })).data!.redirect_url;
  const back = new URL(url!);
  return { code: back.searchParams.get('code')!, verifier, back, authorizationId };
}

async function signedIn(email: string): Promise<SupabaseClient> {
  const sb = createClient(stack.url, db.config.anonKey, opts);
  const { error } = await sb.auth.signInWithPassword({ email, password: 'secret123' });
  expect(error).toBeNull();
  return sb;
}

beforeAll(async () => {
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4',
      SITE_URL: SITE,
      AUTH_OAUTH_SERVER_ENABLED: 'true',
      JWT_SIGNING_KEYS: JSON.stringify([generateSigningJwk('ES256')]),
    },
    sql: `
      insert into public.tenants (id, name) values ('${TENANT_A}', 'A'), ('${TENANT_B}', 'B');
      create table public.notes (id serial primary key, owner uuid not null default auth.uid(), body text not null, via_client text default auth.jwt() ->> 'client_id');
      alter table public.notes enable row level security;
      create policy own on public.notes using (owner = auth.uid()) with check (owner = auth.uid());
      grant select, insert on public.notes to authenticated;
      grant usage on sequence public.notes_id_seq to authenticated;
    `,
  });
  ({ db, stack } = t);
  db.config.publicUrl = stack.url;
  admin = createClient(stack.url, db.config.serviceRoleKey, opts);
  const a = await admin.auth.admin.createUser({ email: 'alice@example.com', password: 'secret123', email_confirm: true, app_metadata: { tenant_id: TENANT_A }, user_metadata: { name: 'Alice A' } });
  const b = await admin.auth.admin.createUser({ email: 'bob@example.com', password: 'secret123', email_confirm: true, app_metadata: { tenant_id: TENANT_B } });
  aliceId = a.data.user!.id;
  await db.admin.query(`insert into public.notes (owner, body) values ($1, 'alice note'), ($2, 'bob note')`, [aliceId, b.data.user!.id]);
  alice = await signedIn('alice@example.com');
  bob = await signedIn('bob@example.com');
  const c = await admin.auth.admin.oauth.createClient({ client_name: 'Third Party', redirect_uris: [APP_CB], client_uri: 'https://thirdparty.example' });
  expect(c.error).toBeNull();
  confidential = c.data as unknown as typeof confidential;
  const p = await admin.auth.admin.oauth.createClient({ client_name: 'Native', redirect_uris: [NATIVE_CB], token_endpoint_auth_method: 'none' });
  expect(p.error).toBeNull();
  publicClient = p.data as unknown as typeof publicClient;
});

afterAll(async () => {
  await t?.close();
});

describe('admin.oauth: the client lifecycle', () => {
  it('create: a confidential client gets a secret once (only its hash is stored); a public one none', async () => {
    const { data, error } = await admin.auth.admin.oauth.createClient({ client_name: 'Life', redirect_uris: ['https://life.example/cb'] });
    expect(error).toBeNull();
    expect(data).toMatchObject({ client_type: 'confidential', token_endpoint_auth_method: 'client_secret_basic', registration_type: 'manual', response_types: ['code'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(data!.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.admin.query(`select client_secret_hash from auth.oauth_clients where id = $1`, [data!.client_id]);
    expect(rows[0].client_secret_hash).toBe(createHash('sha256').update(data!.client_secret!).digest('base64url'));
    const got = await admin.auth.admin.oauth.getClient(data!.client_id);
    expect(got.data!.client_name).toBe('Life');
    expect(got.data).not.toHaveProperty('client_secret');
    const pub = await admin.auth.admin.oauth.getClient(publicClient.client_id);
    expect(pub.data).toMatchObject({ client_type: 'public', token_endpoint_auth_method: 'none' });
    expect(pub.data).not.toHaveProperty('client_secret');
  });

  it('list: newest first, paginated with Link / X-Total-Count as auth-js reads them', async () => {
    const all = await admin.auth.admin.oauth.listClients();
    expect(all.error).toBeNull();
    const ids = all.data.clients.map((c) => c.client_id);
    expect(ids).toContain(confidential.client_id);
    const first = await admin.auth.admin.oauth.listClients({ page: 1, perPage: 1 });
    expect(first.data.clients).toHaveLength(1);
    expect(first.data.clients[0].client_id).toBe(ids[0]);
    expect((first.data as unknown as { total: number }).total).toBe(ids.length);
    expect((first.data as unknown as { nextPage: number }).nextPage).toBe(2);
    const second = await admin.auth.admin.oauth.listClients({ page: 2, perPage: 1 });
    expect(second.data.clients[0].client_id).toBe(ids[1]);
  });

  it('update changes only what is sent; a public client cannot take a secret method', async () => {
    const { data: c } = await admin.auth.admin.oauth.createClient({ client_name: 'Before', redirect_uris: ['https://u.example/cb'] });
    const { data, error } = await admin.auth.admin.oauth.updateClient(c!.client_id, { client_name: 'After', redirect_uris: ['https://u.example/cb', 'https://u.example/cb2'] });
    expect(error).toBeNull();
    expect(data).toMatchObject({ client_name: 'After', redirect_uris: ['https://u.example/cb', 'https://u.example/cb2'], client_type: 'confidential' });
    const bad = await admin.auth.admin.oauth.updateClient(publicClient.client_id, { token_endpoint_auth_method: 'client_secret_post' } as never);
    expect(bad.error).toMatchObject({ status: 400, code: 'validation_failed' });
    const empty = await admin.auth.admin.oauth.updateClient(c!.client_id, {});
    expect(empty.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'No fields provided for update' });
  });

  it('regenerate_secret: a new secret, the old one refused at the token endpoint; not for public clients', async () => {
    const { data: c } = await admin.auth.admin.oauth.createClient({ client_name: 'R', redirect_uris: ['https://r.example/cb'] });
    const { data, error } = await admin.auth.admin.oauth.regenerateClientSecret(c!.client_id);
    expect(error).toBeNull();
    expect(data!.client_secret).toBeTruthy();
    expect(data!.client_secret).not.toBe(c!.client_secret);
    const old = await token({ grant_type: 'authorization_code', code: 'x' }, { authorization: basic(c!.client_id, c!.client_secret!) });
    expect(old.status).toBe(400);
    expect(await body(old)).toMatchObject({ error_code: 'invalid_credentials', error: 'invalid_client' });
    const fresh = await token({ grant_type: 'authorization_code', code: 'x' }, { authorization: basic(c!.client_id, data!.client_secret!) });
    expect(await body(fresh)).toEqual({ error: 'invalid_grant', error_description: 'Invalid authorization code' });
    const pub = await admin.auth.admin.oauth.regenerateClientSecret(publicClient.client_id);
    expect(pub.error).toMatchObject({ status: 400, message: 'Cannot regenerate secret for public client' });
  });

  it('delete: 204, then 404 oauth_client_not_found; unknown and malformed ids refused', async () => {
    const { data: c } = await admin.auth.admin.oauth.createClient({ client_name: 'D', redirect_uris: ['https://d.example/cb'] });
    expect((await admin.auth.admin.oauth.deleteClient(c!.client_id)).error).toBeNull();
    const gone = await admin.auth.admin.oauth.getClient(c!.client_id);
    expect(gone.error).toMatchObject({ status: 404, code: 'oauth_client_not_found' });
    expect((await admin.auth.admin.oauth.getClient('00000000-0000-4000-8000-000000000000')).error).toMatchObject({ status: 404, code: 'oauth_client_not_found' });
    expect((await admin.auth.admin.oauth.getClient('nope')).error).toMatchObject({ status: 400, message: 'invalid client_id format' });
    const listed = await admin.auth.admin.oauth.listClients();
    expect(listed.data.clients.map((x) => x.client_id)).not.toContain(c!.client_id);
  });

  it('bad registrations are 400 validation_failed; users and anon keys are not admins', async () => {
    for (const params of [{ redirect_uris: [] }, { redirect_uris: ['http://evil.example/cb'] }, { redirect_uris: ['javascript://x/cb'] }, { redirect_uris: ['https://x.example/cb#frag'] }, { redirect_uris: [`https://x.example/${'a'.repeat(2048)}`] }, { redirect_uris: 'https://x.example/cb' }, { redirect_uris: ['https://x.example/cb'], grant_types: ['password'] }, { redirect_uris: ['https://x.example/cb'], client_type: 'public', token_endpoint_auth_method: 'client_secret_basic' }]) {
      const { error } = await admin.auth.admin.oauth.createClient(params as never);
      expect(error, JSON.stringify(params)).toMatchObject({ status: 400, code: 'validation_failed' });
    }
    const userToken = (await alice.auth.getSession()).data.session!.access_token;
    const asUser = await fetch(`${stack.url}/auth/v1/admin/oauth/clients`, { headers: { apikey: db.config.anonKey, authorization: `Bearer ${userToken}` } });
    expect(asUser.status).toBe(403);
    expect(asUser.headers.get('x-sb-error-code')).toBe('not_admin');
  });
});

describe('the authorization-code flow as a third-party app does it', () => {
  it('authorize → consent page → approve → code → token (PKCE + secret) → REST under RLS → refresh → userinfo → ID token', async () => {
    const nonce = 'n-' + randomBytes(8).toString('hex');
    const { authorizationId, verifier } = await startAuthorization(confidential.client_id, APP_CB, { scope: 'openid email profile', nonce });
    const details = await alice.auth.oauth.getAuthorizationDetails(authorizationId);
    expect(details.error).toBeNull();
    expect(details.data).toEqual({
      authorization_id: authorizationId,
      redirect_uri: APP_CB,
      client: { id: confidential.client_id, name: 'Third Party', uri: 'https://thirdparty.example' },
      user: { id: aliceId, email: 'alice@example.com' },
      scope: 'openid email profile',
    });
    const approved = await alice.auth.oauth.approveAuthorization(authorizationId, { skipBrowserRedirect: true });
    expect(approved.error).toBeNull();
    const back = new URL(approved.data!.redirect_url);
    expect(`${back.origin}${back.pathname}`).toBe(APP_CB);
    expect(back.searchParams.get('state')).toBe('st-1');
    const code = back.searchParams.get('code')!;
    const { rows } = await db.admin.query(`select authorization_code_hash from auth.oauth_authorizations where authorization_id = $1`, [authorizationId]);
    expect(rows[0].authorization_code_hash).toBe(createHash('sha256').update(code).digest('hex'));

    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: APP_CB }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(res.status).toBe(200);
    const tokens = await body(res);
    expect(Object.keys(tokens).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'refresh_token', 'token_type']);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: aliceId, aud: 'authenticated', role: 'authenticated', client_id: confidential.client_id, scope: 'openid email profile', tenant_id: TENANT_A });
    expect(claims.amr).toEqual([expect.objectContaining({ method: 'oauth_provider/authorization_code' })]);

    // The access token is the user's, under RLS, wherever the project checks tokens.
    const asApp = createClient(stack.url, db.config.anonKey, { ...opts, global: { headers: { Authorization: `Bearer ${tokens.access_token}` } } });
    const notes = await asApp.from('notes').select('body');
    expect(notes.error).toBeNull();
    expect(notes.data).toEqual([{ body: 'alice note' }]);
    const inserted = await asApp.from('notes').insert({ body: 'from the app' }).select('via_client').single();
    expect(inserted.data).toEqual({ via_client: confidential.client_id });

    const idClaims = (await jwtVerify(tokens.id_token, createRemoteJWKSet(new URL(`${stack.url}/auth/v1/.well-known/jwks.json`)), { issuer: `${stack.url}/auth/v1`, audience: confidential.client_id })).payload;
    expect(idClaims).toMatchObject({ sub: aliceId, nonce, email: 'alice@example.com', email_verified: true, name: 'Alice A', client_id: confidential.client_id });

    const info = await fetch(`${stack.url}/auth/v1/oauth/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(await body(info)).toMatchObject({ sub: aliceId, email: 'alice@example.com', email_verified: true, name: 'Alice A' });

    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(refreshed.status).toBe(200);
    const next = await body(refreshed);
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(decodeJwt(next.access_token)).toMatchObject({ sub: aliceId, client_id: confidential.client_id, scope: 'openid email profile' });

    // The code worked once.
    const again = await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(again.status).toBe(400);
    expect(await body(again)).toEqual({ error: 'invalid_grant', error_description: 'Invalid authorization code' });
  });

  it("a client's refresh token needs the client: refused without it, with another client, and by the first-party refresh", async () => {
    const { code, verifier } = await codeFor(alice, confidential.client_id, APP_CB);
    const tokens = await body(await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, confidential.client_secret) }));
    const firstParty = createClient(stack.url, db.config.anonKey, opts);
    const viaAuthJs = await firstParty.auth.refreshSession({ refresh_token: tokens.refresh_token });
    expect(viaAuthJs.error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
    const otherClient = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: publicClient.client_id });
    expect(await body(otherClient)).toEqual({ error: 'invalid_client', error_description: "Client does not match the session's OAuth client" });
    const noClient = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(noClient.status).toBe(400);
    expect(await body(noClient)).toMatchObject({ error_code: 'invalid_credentials', error: 'invalid_client' });
    const first = (await alice.auth.getSession()).data.session!;
    const mixed = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(await body(mixed)).toEqual({ error: 'invalid_client', error_description: 'Client authentication not allowed for non-OAuth session' });
  });

  it("refresh rotation: a just-spent token answers with its live child; replayed later, it ends the client's session", async () => {
    const auth = { authorization: basic(confidential.client_id, confidential.client_secret) };
    const { code, verifier } = await codeFor(alice, confidential.client_id, APP_CB);
    const first = await body(await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, auth));
    const second = await body(await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth));
    const again = await body(await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth));
    expect(again.refresh_token).toBe(second.refresh_token); // within AUTH_REFRESH_REUSE_INTERVAL
    await db.admin.query(`update auth.refresh_tokens set updated_at = now() - interval '1 hour' where token = $1`, [first.refresh_token]);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token }, auth);
    expect(await body(replay)).toMatchObject({ error_code: 'refresh_token_already_used' });
    expect(await body(await token({ grant_type: 'refresh_token', refresh_token: second.refresh_token }, auth))).toMatchObject({ error_code: 'refresh_token_not_found' });
    const info = await fetch(`${stack.url}/auth/v1/oauth/userinfo`, { headers: { authorization: `Bearer ${second.access_token}` } });
    expect(info.status).toBe(403); // the session is gone
  });

  it('a public client: PKCE and its client_id only; a secret from it is refused', async () => {
    const { code, verifier } = await codeFor(alice, publicClient.client_id, NATIVE_CB, { scope: 'email' });
    const withSecret = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: publicClient.client_id, client_secret: 'guess' });
    expect(await body(withSecret)).toMatchObject({ error_code: 'invalid_credentials', msg: "invalid authentication method: client is registered for 'none' but 'client_secret_post' was used" });
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: publicClient.client_id });
    expect(res.status).toBe(200);
    const tokens = await body(res);
    expect(tokens.id_token).toBeUndefined(); // no openid scope
    expect(decodeJwt(tokens.access_token)).toMatchObject({ client_id: publicClient.client_id, scope: 'email' });
  });

  it('wrong verifier, redirect_uri, client or secret: OAuth errors, and the code stays usable for the right one', async () => {
    const { code, verifier } = await codeFor(alice, confidential.client_id, APP_CB);
    const auth = { authorization: basic(confidential.client_id, confidential.client_secret) };
    const wrongVerifier = await token({ grant_type: 'authorization_code', code, code_verifier: pkce().verifier }, auth);
    expect(wrongVerifier.status).toBe(400);
    expect(await body(wrongVerifier)).toEqual({ error: 'invalid_grant', error_description: 'PKCE verification failed: code challenge does not match previously saved code verifier' });
    const noVerifier = await token({ grant_type: 'authorization_code', code }, auth);
    expect(await body(noVerifier)).toEqual({ error: 'invalid_grant', error_description: 'PKCE verification failed: code_verifier is required when PKCE challenge is present' });
    const wrongRedirect = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: 'https://thirdparty.example/other' }, auth);
    expect(await body(wrongRedirect)).toEqual({ error: 'invalid_grant', error_description: 'Invalid redirect_uri' });
    const otherClient = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: publicClient.client_id });
    expect(await body(otherClient)).toEqual({ error: 'invalid_grant', error_description: 'Authorization code was not issued for this client' });
    const wrongSecret = await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, 'not-the-secret') });
    expect(wrongSecret.status).toBe(400);
    expect(await body(wrongSecret)).toEqual({ code: 400, error_code: 'invalid_credentials', msg: 'invalid client credentials', error: 'invalid_client', error_description: 'invalid client credentials' });
    const noGrant = await token({ code }, auth);
    expect(await body(noGrant)).toEqual({ error: 'invalid_request', error_description: 'grant_type is required' });
    const password = await token({ grant_type: 'password' }, auth);
    expect(await body(password)).toEqual({ error: 'unsupported_grant_type', error_description: 'Client is not allowed to use grant type: password' });
    const ok = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: APP_CB }, auth);
    expect(ok.status).toBe(200);
  });

  it('one code, many concurrent exchanges: exactly one gets tokens', async () => {
    const { code, verifier } = await codeFor(alice, confidential.client_id, APP_CB);
    const auth = { authorization: basic(confidential.client_id, confidential.client_secret) };
    const results = await Promise.all(Array.from({ length: 6 }, () => token({ grant_type: 'authorization_code', code, code_verifier: verifier }, auth)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400, 400]);
    const { rows } = await db.admin.query(`select count(*)::int as n from auth.sessions where user_id = $1 and oauth_client_id = $2 and created_at > now() - interval '1 minute'`, [aliceId, confidential.client_id]);
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it('any order of looks, approvals and denials by two users, one by one or at once: one owner, at most one outcome', async () => {
    const step = fc.record({ who: fc.constantFrom('alice', 'bob'), action: fc.constantFrom('details', 'approve', 'deny') });
    // A client of its own: the consents its approvals leave would otherwise let later requests of
    // the shared client skip the consent page (getAuthorizationDetails answers a redirect at once).
    const { data: own } = await admin.auth.admin.oauth.createClient({ client_name: 'Property', redirect_uris: [APP_CB] });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), fc.boolean(), async (steps, together) => {
        // Each run starts without consent, so every step sees a pending request.
        await db.admin.query('delete from auth.oauth_consents where client_id = $1', [own!.client_id]);
        const { authorizationId } = await startAuthorization(own!.client_id, APP_CB, { scope: 'email phone profile offline_access' });
        const users = { alice, bob };
        const run = async ({ who, action }: { who: 'alice' | 'bob'; action: string }) => {
          const oauth = users[who].auth.oauth;
          const r = action === 'details' ? await oauth.getAuthorizationDetails(authorizationId)
            : action === 'approve' ? await oauth.approveAuthorization(authorizationId, { skipBrowserRedirect: true })
            : await oauth.denyAuthorization(authorizationId, { skipBrowserRedirect: true });
          const url = r.data && 'redirect_url' in r.data ? new URL(r.data.redirect_url as string) : undefined;
          return { who, ok: r.error === null, code: url?.searchParams.get('code') ?? undefined, denied: url?.searchParams.get('error') === 'access_denied' };
        };
        const results = together ? await Promise.all(steps.map(run)) : await steps.reduce(async (acc, s) => [...(await acc), await run(s)], Promise.resolve([] as Awaited<ReturnType<typeof run>>[]));
        const { rows } = await db.admin.query(`select status, user_id from auth.oauth_authorizations where authorization_id = $1`, [authorizationId]);
        const succeeded = new Set(results.filter((r) => r.ok).map((r) => r.who));
        expect(succeeded.size).toBeLessThanOrEqual(1);
        const owner = rows[0].user_id;
        if (succeeded.size) expect(owner).toBe(succeeded.has('alice') ? aliceId : (await bob.auth.getUser()).data.user!.id);
        const outcomes = results.filter((r) => r.code || r.denied);
        expect(outcomes.length).toBeLessThanOrEqual(1);
        expect(rows[0].status).toBe(outcomes[0]?.code ? 'approved' : outcomes[0]?.denied ? 'denied' : 'pending');
      }),
      { numRuns: 15 },
    );
  });

  it('deny: back to the app with error=access_denied and the state; the request is spent', async () => {
    const { authorizationId } = await startAuthorization(confidential.client_id, APP_CB, { scope: 'email phone' });
    expect((await alice.auth.oauth.getAuthorizationDetails(authorizationId)).error).toBeNull();
    const denied = await alice.auth.oauth.denyAuthorization(authorizationId, { skipBrowserRedirect: true });
    expect(denied.error).toBeNull();
    const back = new URL(denied.data!.redirect_url);
    expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'access_denied', error_description: 'User denied the request', state: 'st-1' });
    const twice = await alice.auth.oauth.approveAuthorization(authorizationId, { skipBrowserRedirect: true });
    expect(twice.error).toMatchObject({ status: 400, code: 'validation_failed', message: 'authorization request is no longer pending' });
  });

  it('a consent given covers the next request for the same scopes: approved when the consent page asks', async () => {
    await codeFor(alice, confidential.client_id, APP_CB, { scope: 'email profile' }); // consent for email + profile
    const { authorizationId, verifier } = await startAuthorization(confidential.client_id, APP_CB, { scope: 'profile' });
    const details = await alice.auth.oauth.getAuthorizationDetails(authorizationId);
    expect(details.data).toHaveProperty('redirect_url');
    const code = new URL((details.data as { redirect_url: string }).redirect_url).searchParams.get('code')!;
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(res.status).toBe(200);
  });

  it('expired: the consent page gets 404 and the row is marked; an expired code is refused', async () => {
    const { authorizationId } = await startAuthorization(confidential.client_id, APP_CB, { scope: 'phone' });
    await db.admin.query(`update auth.oauth_authorizations set created_at = now() - interval '1 hour', expires_at = now() - interval '1 minute' where authorization_id = $1`, [authorizationId]);
    const details = await alice.auth.oauth.getAuthorizationDetails(authorizationId);
    expect(details.error).toMatchObject({ status: 404, code: 'oauth_authorization_not_found' });
    const { rows } = await db.admin.query(`select status from auth.oauth_authorizations where authorization_id = $1`, [authorizationId]);
    expect(rows[0].status).toBe('expired');

    const { code, verifier, authorizationId: used } = await codeFor(alice, confidential.client_id, APP_CB);
    await db.admin.query(`update auth.oauth_authorizations set created_at = now() - interval '1 hour', expires_at = now() - interval '1 minute' where authorization_id = $1`, [used]);
    const res = await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(await body(res)).toEqual({ error: 'invalid_grant', error_description: 'Authorization code has expired' });
  });

  it('another user (of another tenant) cannot see, approve or deny a request that is not theirs', async () => {
    // The property above may have left bob grants of his own: this request must add none.
    const bobsGrants = (await bob.auth.oauth.listGrants()).data;
    const { authorizationId } = await startAuthorization(confidential.client_id, APP_CB, { scope: 'email phone profile' });
    expect((await alice.auth.oauth.getAuthorizationDetails(authorizationId)).error).toBeNull(); // alice's now
    expect((await bob.auth.oauth.getAuthorizationDetails(authorizationId)).error).toMatchObject({ status: 404, code: 'oauth_authorization_not_found' });
    expect((await bob.auth.oauth.approveAuthorization(authorizationId, { skipBrowserRedirect: true })).error).toMatchObject({ status: 404, code: 'oauth_authorization_not_found' });
    expect((await bob.auth.oauth.denyAuthorization(authorizationId, { skipBrowserRedirect: true })).error).toMatchObject({ status: 404, code: 'oauth_authorization_not_found' });
    const { rows } = await db.admin.query(`select status, user_id from auth.oauth_authorizations where authorization_id = $1`, [authorizationId]);
    expect(rows[0]).toEqual({ status: 'pending', user_id: aliceId });
    expect((await bob.auth.oauth.listGrants()).data).toEqual(bobsGrants);
    const anon = createClient(stack.url, db.config.anonKey, opts);
    expect((await anon.auth.oauth.getAuthorizationDetails(authorizationId)).error).toMatchObject({ name: 'AuthSessionMissingError' });
  });

  it('grants: listed with the client; revoking one ends the sessions of that client', async () => {
    const { code, verifier } = await codeFor(alice, confidential.client_id, APP_CB);
    const tokens = await body(await token({ grant_type: 'authorization_code', code, code_verifier: verifier }, { authorization: basic(confidential.client_id, confidential.client_secret) }));
    const grants = await alice.auth.oauth.listGrants();
    expect(grants.error).toBeNull();
    const grant = grants.data!.find((g) => g.client.id === confidential.client_id)!;
    expect(grant.client).toEqual({ id: confidential.client_id, name: 'Third Party', uri: 'https://thirdparty.example' });
    expect(grant.scopes).toContain('email');
    expect(Date.parse(grant.granted_at)).toBeGreaterThan(0);
    expect((await alice.auth.oauth.revokeGrant({ clientId: confidential.client_id })).error).toBeNull();
    expect((await alice.auth.oauth.listGrants()).data!.map((g) => g.client.id)).not.toContain(confidential.client_id);
    const res = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, { authorization: basic(confidential.client_id, confidential.client_secret) });
    expect(await body(res)).toMatchObject({ error_code: 'refresh_token_not_found' });
    expect((await alice.auth.oauth.revokeGrant({ clientId: confidential.client_id })).error).toMatchObject({ status: 404, code: 'oauth_consent_not_found' });
  });
});

describe('/oauth/authorize refusals', () => {
  it('an unknown client or an unregistered redirect_uri is answered here (400), never redirected', async () => {
    const { challenge } = pkce();
    const unknown = await authorize({ client_id: '00000000-0000-4000-8000-000000000000', redirect_uri: APP_CB, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(unknown.status).toBe(400);
    expect(await body(unknown)).toMatchObject({ error_code: 'oauth_client_not_found', msg: 'invalid client_id' });
    const stranger = await authorize({ client_id: confidential.client_id, redirect_uri: 'https://thirdparty.example/callback/../evil', code_challenge: challenge, code_challenge_method: 'S256' });
    expect(stranger.status).toBe(400);
    expect(stranger.headers.get('location')).toBeNull();
    expect(await body(stranger)).toMatchObject({ error_code: 'validation_failed', msg: 'invalid redirect_uri' });
    expect(await body(await authorize({ redirect_uri: APP_CB }))).toMatchObject({ msg: 'client_id is required' });
  });

  it('other problems go back to the app as error=invalid_request with the state', async () => {
    const { challenge } = pkce();
    const cases: [Record<string, string>, string][] = [
      [{}, 'PKCE flow requires both code_challenge and code_challenge_method'],
      [{ code_challenge: challenge, code_challenge_method: 'S512' }, "code_challenge_method must be 'S256' or 'plain'"],
      [{ code_challenge: 'short', code_challenge_method: 'S256' }, 'code_challenge must be between 43 and 128 characters'],
      [{ code_challenge: challenge, code_challenge_method: 'S256', response_type: 'token' }, 'only response_type=code is supported'],
      [{ code_challenge: challenge, code_challenge_method: 'S256', scope: 'email admin' }, 'unsupported scope: admin'],
      [{ code_challenge: challenge, code_challenge_method: 'S256', scope: 'email '.repeat(700) }, 'scope must be at most 4096 characters'],
      [{ code_challenge: challenge, code_challenge_method: 'S256', resource: 'https://api.example/x?y=1' }, 'resource must not include a query component'],
      [{ code_challenge: challenge, code_challenge_method: 'S256', nonce: 'n'.repeat(256) }, 'nonce must be at most 255 characters'],
    ];
    for (const [extra, description] of cases) {
      const res = await authorize({ client_id: confidential.client_id, redirect_uri: APP_CB, state: 'keep', ...extra });
      expect(res.status, description).toBe(302);
      const back = new URL(res.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(APP_CB);
      expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'invalid_request', error_description: description, state: 'keep' });
    }
  });
});

describe('discovery', () => {
  it('openid-configuration and oauth-authorization-server: our issuer, endpoints and keys, without an apikey', async () => {
    const issuer = `${stack.url}/auth/v1`;
    for (const path of ['openid-configuration', 'oauth-authorization-server']) {
      const res = await fetch(`${issuer}/.well-known/${path}`);
      expect(res.status).toBe(200);
      const doc = await body(res);
      expect(doc).toMatchObject({
        issuer,
        authorization_endpoint: `${issuer}/oauth/authorize`,
        token_endpoint: `${issuer}/oauth/token`,
        userinfo_endpoint: `${issuer}/oauth/userinfo`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256', 'plain'],
      });
      expect(doc.scopes_supported).toContain('openid');
      expect(doc.registration_endpoint).toBeUndefined();
    }
  });
});

describe('switched off', () => {
  it('AUTH_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION: off 403; on, anyone registers and discovery says where', async () => {
    const register = () => fetch(`${stack.url}/auth/v1/oauth/clients/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'MCP', redirect_uris: [NATIVE_CB], token_endpoint_auth_method: 'none' }) });
    const off = await register();
    expect(off.status).toBe(403);
    expect(off.headers.get('x-sb-error-code')).toBe('oauth_dynamic_client_registration_disabled');
    db.config.auth.oauthServer.allowDynamicRegistration = true;
    try {
      const on = await register();
      expect(on.status).toBe(201);
      expect(await body(on)).toMatchObject({ registration_type: 'dynamic', client_type: 'public', token_endpoint_auth_method: 'none', client_name: 'MCP' });
      const doc = await body(await fetch(`${stack.url}/auth/v1/.well-known/openid-configuration`));
      expect(doc.registration_endpoint).toBe(`${stack.url}/auth/v1/oauth/clients/register`);
    } finally {
      db.config.auth.oauthServer.allowDynamicRegistration = false;
    }
  });

  it("AUTH_OAUTH_SERVER_ENABLED=false: every endpoint answers GoTrue's 404 feature_disabled, openid-configuration aside", async () => {
    db.config.auth.oauthServer.enabled = false;
    try {
      const expected = { status: 404, code: 'feature_disabled', message: 'OAuth server is disabled' };
      expect((await admin.auth.admin.oauth.listClients()).error).toMatchObject(expected);
      expect((await admin.auth.admin.oauth.createClient({ client_name: 'X', redirect_uris: [APP_CB] })).error).toMatchObject(expected);
      expect((await alice.auth.oauth.getAuthorizationDetails('x')).error).toMatchObject(expected);
      expect((await alice.auth.oauth.listGrants()).error).toMatchObject(expected);
      const res = await authorize({ client_id: confidential.client_id, redirect_uri: APP_CB });
      expect(res.status).toBe(404);
      expect(res.headers.get('x-sb-error-code')).toBe('feature_disabled');
      expect((await token({ grant_type: 'authorization_code' })).status).toBe(404);
      expect((await fetch(`${stack.url}/auth/v1/.well-known/oauth-authorization-server`)).status).toBe(404);
      expect((await fetch(`${stack.url}/auth/v1/.well-known/openid-configuration`)).status).toBe(200);
    } finally {
      db.config.auth.oauthServer.enabled = true;
    }
  });
});

describe('without an asymmetric signing key (HS256 only)', () => {
  it('openid is neither offered nor accepted: ID tokens are never signed with the shared secret', async () => {
    const app = await buildAuthApp({ config: { ...db.config, signingKeys: [] }, pool: db.admin, log: pino({ level: 'silent' }), logRequests: false });
    try {
      const doc = (await app.inject({ url: '/.well-known/openid-configuration' })).json();
      expect(doc.scopes_supported).not.toContain('openid');
      expect(doc.id_token_signing_alg_values_supported).toEqual([]);
      const { challenge } = pkce();
      const res = await app.inject({ url: `/oauth/authorize?${new URLSearchParams({ client_id: confidential.client_id, redirect_uri: APP_CB, scope: 'openid email', code_challenge: challenge, code_challenge_method: 'S256' })}` });
      expect(res.statusCode).toBe(302);
      const back = new URL(res.headers.location as string);
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('error_description')).toBe('unsupported scope: openid (ID tokens need JWT_SIGNING_KEYS)');
    } finally {
      await app.close();
    }
  });
});
