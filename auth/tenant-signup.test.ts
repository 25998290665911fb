/**
 * Which key carries a tenant into a new user: only a tenant's API key (an anon-style key — role
 * anon, `tenant_id`, no `sub`). A member's access token carries its tenant too, but signing up
 * with it must not enrol a new member (sign-up, signInAnonymously and signInWithOtp alike).
 * Anonymous sign-in through a tenant key follows AUTH_ANONYMOUS_SIGNINS (and DISABLE_SIGNUP), and
 * grants what the README says: the tenant's rows under tenant isolation, not what policies keep
 * from anonymous users.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const TENANT_A = '00000000-0000-4000-8000-0000000000c1';
const TENANT_B = '00000000-0000-4000-8000-0000000000c2';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

/** An auth client whose `apikey` (and default Authorization) is `key`. */
const clientWith = (t: TestStack, key: string) => createClient(t.stack.url, key, opts);

const tenantOfUser = async (t: TestStack, email: string) =>
  (await t.db.admin.query<{ tenant_id: string | null }>(`select tenant_id from auth.users where email = $1`, [email])).rows[0]?.tenant_id;

describe('tenant keys at sign-up', () => {
  let t: TestStack;
  let admin: SupabaseClient;
  let tenantKeyA: string;
  let memberToken: string;

  beforeAll(async () => {
    t = await startTestStack({
      env: { AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true' },
      sql: `
        insert into public.tenants (id, name) values ('${TENANT_A}', 'A'), ('${TENANT_B}', 'B');
        create table public.todos (
          id bigint generated always as identity primary key,
          tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
          title text not null
        );
        select public.enable_tenant_isolation('public.todos');
        grant select on public.todos to anon, authenticated;
        insert into public.todos (tenant_id, title) values ('${TENANT_A}', 'a1'), ('${TENANT_A}', 'a2'), ('${TENANT_B}', 'b1');
        -- A table whose policy keeps anonymous users out (as the README suggests).
        create table public.members_only (tenant_id uuid not null references public.tenants (id), note text);
        alter table public.members_only enable row level security;
        create policy members on public.members_only for select to authenticated
          using (tenant_id = auth.tenant_id() and not coalesce((auth.jwt() ->> 'is_anonymous')::boolean, false));
        grant select on public.members_only to authenticated;
        insert into public.members_only values ('${TENANT_A}', 'a secret'), ('${TENANT_B}', 'b secret');
      `,
    });
    admin = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
    tenantKeyA = await testToken({ role: 'anon', tenant_id: TENANT_A });
    // A member of tenant A (set by an admin), signed in: its access token names the tenant.
    await admin.auth.admin.createUser({ email: 'member@example.com', password: 'secret123', email_confirm: true, app_metadata: { tenant_id: TENANT_A } });
    const { data } = await clientWith(t, t.db.config.anonKey).auth.signInWithPassword({ email: 'member@example.com', password: 'secret123' });
    memberToken = data.session!.access_token;
    expect(claimsOf(memberToken).tenant_id).toBe(TENANT_A);
  });
  afterAll(() => t?.close());

  it('a tenant key (role anon, tenant_id, no sub) makes the new user a member of its tenant', async () => {
    const { data, error } = await clientWith(t, tenantKeyA).auth.signUp({ email: 'joiner@example.com', password: 'secret123' });
    expect(error).toBeNull();
    expect(data.user?.app_metadata.tenant_id).toBe(TENANT_A);
    expect(claimsOf(data.session!.access_token).tenant_id).toBe(TENANT_A);
    expect(await tenantOfUser(t, 'joiner@example.com')).toBe(TENANT_A);
    // The app_metadata form of the claim works too.
    const nested = await testToken({ role: 'anon', app_metadata: { tenant_id: TENANT_B } });
    expect((await clientWith(t, nested).auth.signUp({ email: 'joiner-b@example.com', password: 'secret123' })).error).toBeNull();
    expect(await tenantOfUser(t, 'joiner-b@example.com')).toBe(TENANT_B);
  });

  it("a member's access token is no tenant key: sign-up, anonymous sign-in and OTP sign-up create users of no tenant", async () => {
    const forged = await testToken({ role: 'anon', tenant_id: TENANT_A, sub: '00000000-0000-4000-8000-00000000beef' });
    for (const [i, key] of [memberToken, forged].entries()) {
      const sb = clientWith(t, key);
      const signUp = await sb.auth.signUp({ email: `recruit${i}@example.com`, password: 'secret123' });
      expect(signUp.error).toBeNull();
      expect(signUp.data.user?.app_metadata.tenant_id).toBeUndefined();
      expect(claimsOf(signUp.data.session!.access_token).tenant_id).toBeUndefined();
      expect(await tenantOfUser(t, `recruit${i}@example.com`)).toBeNull();

      const anon = await clientWith(t, key).auth.signInAnonymously();
      expect(anon.error).toBeNull();
      expect(claimsOf(anon.data.session!.access_token).tenant_id).toBeUndefined();

      expect((await clientWith(t, key).auth.signInWithOtp({ email: `otp${i}@example.com` })).error).toBeNull();
      expect(await tenantOfUser(t, `otp${i}@example.com`)).toBeNull();
    }
    // Nothing joined tenant A but the member and the tenant key's sign-up.
    const { rows } = await t.db.admin.query<{ email: string | null }>(`select email from auth.users where tenant_id = $1 order by email`, [TENANT_A]);
    expect(rows.map((r) => r.email)).toEqual(['joiner@example.com', 'member@example.com']);
  });

  it('an anonymous sign-in through a tenant key is an anonymous member: the tenant rows, not what policies keep from anonymous users', async () => {
    const anon = clientWith(t, tenantKeyA);
    const { data, error } = await anon.auth.signInAnonymously();
    expect(error).toBeNull();
    expect(data.user?.is_anonymous).toBe(true);
    const claims = claimsOf(data.session!.access_token);
    expect(claims).toMatchObject({ role: 'authenticated', is_anonymous: true, tenant_id: TENANT_A });
    // auth-js sends the session's token to REST once signed in.
    const todos = await anon.from('todos').select('title').order('title');
    expect(todos.error).toBeNull();
    expect(todos.data).toEqual([{ title: 'a1' }, { title: 'a2' }]);
    const secrets = await anon.from('members_only').select('note');
    expect(secrets.data).toEqual([]);
    // A full member of the same tenant sees what the anonymous one does not.
    const member = createClient(t.stack.url, t.db.config.anonKey, { ...opts, global: { headers: { Authorization: `Bearer ${memberToken}` } } });
    expect((await member.from('members_only').select('note')).data).toEqual([{ note: 'a secret' }]);
  });
});

describe('anonymous sign-in through a tenant key follows the switches', () => {
  const stacks: TestStack[] = [];
  afterAll(() => Promise.all(stacks.map((s) => s.close())));

  const start = async (env: Record<string, string>) => {
    const s = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'true', ...env }, sql: `insert into public.tenants (id, name) values ('${TENANT_A}', 'A')` });
    stacks.push(s);
    return s;
  };
  const users = async (s: TestStack) => Number((await s.db.admin.query(`select count(*) from auth.users`)).rows[0].count);

  it('AUTH_ANONYMOUS_SIGNINS=false refuses it (GoTrue: 422 anonymous_provider_disabled); email sign-ups still join the tenant', async () => {
    const s = await start({ AUTH_ANONYMOUS_SIGNINS: 'false' });
    const key = await testToken({ role: 'anon', tenant_id: TENANT_A });
    const { data, error } = await clientWith(s, key).auth.signInAnonymously();
    expect(error).toMatchObject({ status: 422, code: 'anonymous_provider_disabled', message: 'Anonymous sign-ins are disabled' });
    expect(data.session).toBeNull();
    expect(await users(s)).toBe(0);
    expect((await clientWith(s, key).auth.signUp({ email: 'ok@example.com', password: 'secret123' })).error).toBeNull();
    expect(await tenantOfUser(s, 'ok@example.com')).toBe(TENANT_A);
  });

  it('AUTH_DISABLE_SIGNUP=true refuses it too (signup_disabled), as GoTrue does', async () => {
    const s = await start({ AUTH_DISABLE_SIGNUP: 'true' });
    const key = await testToken({ role: 'anon', tenant_id: TENANT_A });
    const { error } = await clientWith(s, key).auth.signInAnonymously();
    expect(error).toMatchObject({ status: 422, code: 'signup_disabled' });
    expect(await users(s)).toBe(0);
  });
});
