/**
 * Auth through the official client (@supabase/auth-js inside supabase-js) against the embedded
 * stack: sign-up, sign-in, refresh rotation and reuse detection, user updates, sign-out, anonymous
 * sign-in, the admin API, the short /api/auth routes, and REST RLS with the issued tokens.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let admin: SupabaseClient;
const TENANT = '00000000-0000-4000-8000-0000000000a1';

const fresh = () => createClient(stack.url, db.config.anonKey, { auth: { persistSession: false, autoRefreshToken: false } });

beforeAll(async () => {
  t = await startTestStack({
    env: { AUTH_BCRYPT_COST: '4' },
    sql: `
    insert into public.tenants (id, name) values ('${TENANT}', 'Acme');
    create table public.notes (id bigint generated always as identity primary key, owner uuid not null default auth.uid(), body text);
    alter table public.notes enable row level security;
    create policy own_notes on public.notes using (owner = auth.uid()) with check (owner = auth.uid());
  `,
  });
  ({ db, stack } = t);
  admin = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false, autoRefreshToken: false } });
});

afterAll(() => t?.close());

describe('sign-up and sign-in', () => {
  it('signUp returns a session (autoconfirm), with GoTrue claims in the access token', async () => {
    const sb = fresh();
    const { data, error } = await sb.auth.signUp({ email: 'ann@example.com', password: 'secret123', options: { data: { full_name: 'Ann' } } });
    expect(error).toBeNull();
    expect(data.session?.access_token).toBeTruthy();
    expect(data.user).toMatchObject({ email: 'ann@example.com', role: 'authenticated', aud: 'authenticated', user_metadata: { full_name: 'Ann', email_verified: true } });
    const claims = JSON.parse(Buffer.from(data.session!.access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ sub: data.user!.id, role: 'authenticated', aud: 'authenticated', email: 'ann@example.com', aal: 'aal1', is_anonymous: false });
    expect(claims.exp - claims.iat).toBe(900);
    expect(typeof claims.session_id).toBe('string');
  });

  it('rejects duplicate emails, weak passwords and wrong credentials with GoTrue codes', async () => {
    const dup = await fresh().auth.signUp({ email: 'ann@example.com', password: 'secret123' });
    expect(dup.error?.code).toBe('user_already_exists');
    const weak = await fresh().auth.signUp({ email: 'weak@example.com', password: '123' });
    expect(weak.error?.code).toBe('weak_password');
    expect(weak.error?.status).toBe(422);
    const wrong = await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'nope-nope' });
    expect(wrong.error?.code).toBe('invalid_credentials');
    expect(wrong.error?.status).toBe(400);
  });

  it('signInWithPassword, getUser, updateUser, getSession', async () => {
    const sb = fresh();
    const signIn = await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret123' });
    expect(signIn.error).toBeNull();
    const { data: got } = await sb.auth.getUser();
    expect(got.user?.email).toBe('ann@example.com');
    const upd = await sb.auth.updateUser({ data: { plan: 'pro' } });
    expect(upd.data.user?.user_metadata).toMatchObject({ full_name: 'Ann', plan: 'pro' });
    const pw = await sb.auth.updateUser({ password: 'secret456' });
    expect(pw.error).toBeNull();
    expect((await fresh().auth.signInWithPassword({ email: 'ann@example.com', password: 'secret456' })).error).toBeNull();
  });

  it('verifies bcrypt hashes stored by GoTrue ($2a$, any cost)', async () => {
    const { data } = await admin.auth.admin.createUser({ email: 'migrated@example.com', email_confirm: true });
    // A published bcrypt test vector (OpenBSD/jBCrypt), in the $2a$ form GoTrue stores.
    await db.admin.query(`update auth.users set encrypted_password = '$2a$06$.rCVZVOThsIa97pEDOxvGuRRgzG64bvtJ0938xuqzv18d3ZpQhstC' where id = $1`, [data.user!.id]);
    const ok = await fresh().auth.signInWithPassword({ email: 'migrated@example.com', password: 'abcdefghijklmnopqrstuvwxyz' });
    expect(ok.error).toBeNull();
  });
});

describe('refresh tokens', () => {
  it('rotate on every refresh; reusing a rotated token revokes the session family', async () => {
    const sb = fresh();
    const { data } = await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret456' });
    const first = data.session!.refresh_token;
    const r1 = await sb.auth.refreshSession({ refresh_token: first });
    expect(r1.error).toBeNull();
    const second = r1.data.session!.refresh_token;
    expect(second).not.toBe(first);
    // Within the reuse interval a concurrent refresh with the old token gets the current token.
    const again = await fresh().auth.refreshSession({ refresh_token: first });
    expect(again.data.session?.refresh_token).toBe(second);
    // Outside it, reuse is theft: the whole session ends.
    await db.admin.query(`update auth.refresh_tokens set updated_at = now() - interval '1 hour' where token = $1`, [first]);
    const stolen = await fresh().auth.refreshSession({ refresh_token: first });
    expect(stolen.error?.code).toBe('refresh_token_already_used');
    const legit = await fresh().auth.refreshSession({ refresh_token: second });
    expect(legit.error?.code).toBe('refresh_token_not_found');
    const user = await createClient(stack.url, db.config.anonKey, {
      auth: { persistSession: false },
      global: { headers: { Authorization: `Bearer ${r1.data.session!.access_token}` } },
    }).auth.getUser(r1.data.session!.access_token);
    expect(user.error?.name).toBe('AuthSessionMissingError'); // how auth-js reports session_not_found
  });

  it('signOut ends the session: its refresh token no longer works', async () => {
    const sb = fresh();
    const { data } = await sb.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret456' });
    expect((await sb.auth.signOut()).error).toBeNull();
    const after = await fresh().auth.refreshSession({ refresh_token: data.session!.refresh_token });
    expect(after.error?.code).toBe('refresh_token_not_found');
  });
});

describe('anonymous, admin and tenants', () => {
  it('signInAnonymously gives an authenticated, anonymous user', async () => {
    const { data, error } = await fresh().auth.signInAnonymously();
    expect(error).toBeNull();
    expect(data.user?.is_anonymous).toBe(true);
    expect(data.session?.user.role).toBe('authenticated');
  });

  it('admin API: create with tenant, list, get, update (move tenant), delete; refused without service_role', async () => {
    const created = await admin.auth.admin.createUser({ email: 'bob@example.com', password: 'secret123', email_confirm: true, app_metadata: { tenant_id: TENANT } });
    expect(created.error).toBeNull();
    expect(created.data.user?.app_metadata.tenant_id).toBe(TENANT);
    const id = created.data.user!.id;
    const signIn = await fresh().auth.signInWithPassword({ email: 'bob@example.com', password: 'secret123' });
    const claims = JSON.parse(Buffer.from(signIn.data.session!.access_token.split('.')[1], 'base64url').toString());
    expect(claims.tenant_id).toBe(TENANT);
    expect(claims.app_metadata.tenant_id).toBe(TENANT);
    const list = await admin.auth.admin.listUsers();
    expect(list.data.users.map((u) => u.email)).toContain('bob@example.com');
    expect((await admin.auth.admin.getUserById(id)).data.user?.email).toBe('bob@example.com');
    const moved = await admin.auth.admin.updateUserById(id, { app_metadata: { tenant_id: null } });
    expect(moved.data.user?.app_metadata.tenant_id).toBeUndefined();
    const denied = await fresh().auth.admin.listUsers();
    expect(denied.error?.code).toBe('not_admin');
    expect((await admin.auth.admin.deleteUser(id)).error).toBeNull();
    expect((await admin.auth.admin.getUserById(id)).error?.status).toBe(404);
  });
});

describe('tokens on REST', () => {
  it('RLS with auth.uid() from issued tokens: each user sees only their notes', async () => {
    const a = fresh();
    await a.auth.signInWithPassword({ email: 'ann@example.com', password: 'secret456' });
    const b = fresh();
    await b.auth.signUp({ email: 'carl@example.com', password: 'secret123' });
    // auth-js keeps the session in memory (persistSession false) and sends it to REST.
    const sessA = (await a.auth.getSession()).data.session!;
    const sessB = (await b.auth.getSession()).data.session!;
    const restAs = (token: string) => createClient(stack.url, db.config.anonKey, { auth: { persistSession: false }, global: { headers: { Authorization: `Bearer ${token}` } } });
    expect((await restAs(sessA.access_token).from('notes').insert({ body: 'ann note' })).error).toBeNull();
    expect((await restAs(sessB.access_token).from('notes').insert({ body: 'carl note' })).error).toBeNull();
    expect((await restAs(sessA.access_token).from('notes').select('body')).data).toEqual([{ body: 'ann note' }]);
    expect((await restAs(sessB.access_token).from('notes').select('body')).data).toEqual([{ body: 'carl note' }]);
  });

  it('expired, tampered and alg:none tokens are refused with 401 by REST', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ role: 'authenticated', sub: '00000000-0000-4000-8000-000000000001' })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(new TextEncoder().encode(TEST_JWT_SECRET));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ role: 'service_role', exp: now + 60 })).toString('base64url')}.`;
    for (const token of [expired, none, expired.slice(0, -3) + 'abc']) {
      const res = await fetch(`${stack.url}/rest/v1/notes`, { headers: { apikey: db.config.anonKey, authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
    }
  });
});

describe('short routes', () => {
  it('/api/auth/signup, login, me, refresh, logout', async () => {
    const post = (path: string, payload: unknown, token?: string) =>
      fetch(`${stack.url}/api/auth/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: db.config.anonKey, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(payload),
      });
    const signup = await post('signup', { email: 'dora@example.com', password: 'secret123' });
    expect(signup.status).toBe(200);
    const login = await body(await post('login', { email: 'dora@example.com', password: 'secret123' }));
    expect(login.access_token).toBeTruthy();
    const me = await fetch(`${stack.url}/api/auth/me`, { headers: { authorization: `Bearer ${login.access_token}` } });
    expect((await body(me)).email).toBe('dora@example.com');
    const refreshed = await body(await post('refresh', { refresh_token: login.refresh_token }));
    expect(refreshed.refresh_token).not.toBe(login.refresh_token);
    expect((await post('logout', {}, refreshed.access_token)).status).toBe(204);
    const bad = await post('login', { email: 'dora@example.com', password: 'wrong-one' });
    expect(bad.status).toBe(400);
    expect(await body(bad)).toMatchObject({ error_code: 'invalid_credentials' });
  });
});

describe('brute-force protection', () => {
  it('answers 429 over_request_rate_limit after too many failed sign-ins for one email', async () => {
    const sb = fresh();
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 12; i++) codes.push((await sb.auth.signInWithPassword({ email: 'victim@example.com', password: `guess-${i}` })).error?.code);
    expect(codes.slice(0, 10).every((c) => c === 'invalid_credentials')).toBe(true);
    expect(codes.at(-1)).toBe('over_request_rate_limit');
  });
});
