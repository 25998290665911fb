/**
 * Roles and permissions as RLS policies (sql/0026_tenant_rbac.sql) across every API, with the
 * official clients and real sign-ins: auth.has_permission() decides writes through REST
 * (supabase-js `.from()`), GraphQL (POST /graphql/v1), storage (a storage.objects policy), what
 * realtime's postgres_changes deliver and who sends on a private channel (realtime.messages); a suspended tenant's users are refused by REST,
 * GraphQL, storage, realtime and auth, and served again once resumed, while the other tenant
 * never notices; a platform super-admin switches into a foreign tenant and acts there, the audit
 * facts (tenant_role super_admin, auth.acting_as_super_admin()) plain to see.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';

const A = '00000000-0000-4000-8000-0000000000a1';
const B = '00000000-0000-4000-8000-0000000000b2';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

let t: TestStack;
const clients: SupabaseClient[] = [];

interface User {
  client: SupabaseClient;
  id: string;
  token: string;
  refresh: string;
}

/** A user created by the admin API in `tenant` (a member by the trigger), signed in with supabase-js. */
async function user(email: string, tenant: string | null, role?: string): Promise<User> {
  const admin = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
  const { data: created, error } = await admin.auth.admin.createUser({ email, password: 'secret123', email_confirm: true, app_metadata: tenant ? { tenant_id: tenant } : {} });
  if (error) throw error;
  if (tenant && role) await t.db.admin.query(`update auth.tenant_members set role = $3 where tenant_id = $1 and user_id = $2`, [tenant, created.user.id, role]);
  return signIn(email);
}

async function signIn(email: string): Promise<User> {
  const client = createClient(t.stack.url, t.db.config.anonKey, opts);
  clients.push(client);
  const { data, error } = await client.auth.signInWithPassword({ email, password: 'secret123' });
  if (error) throw error;
  await client.realtime.setAuth(data.session!.access_token);
  return { client, id: data.user!.id, token: data.session!.access_token, refresh: data.session!.refresh_token };
}

async function graphql(token: string, query: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.stack.url}/graphql/v1`, {
    method: 'POST',
    headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  return { status: res.status, json: await res.json() };
}

async function refresh(refreshToken: string, tenantId?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.stack.url}/auth/v1/token?grant_type=refresh_token`, {
    method: 'POST',
    headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken, ...(tenantId ? { tenant_id: tenantId } : {}) }),
  });
  return { status: res.status, json: await res.json() };
}

/** Joins a postgres_changes channel on public.projects; resolves with the rows received once SUBSCRIBED, or rejects with the join error. */
async function listen(c: SupabaseClient, name: string): Promise<{ got: Record<string, unknown>[]; channel: RealtimeChannel }> {
  const got: Record<string, unknown>[] = [];
  const channel = c.channel(name).on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'projects' }, (p: any) => got.push(p.new));
  await new Promise<void>((resolve, reject) =>
    channel.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))),
  );
  return { got, channel };
}

const titles = (rows: { title: string }[] | null) => (rows ?? []).map((r) => r.title).sort();

beforeAll(async () => {
  t = await startTestStack({
    env: { AUTH_BCRYPT_COST: '4' },
    sql: `
      insert into public.tenants (id, name, slug) values ('${A}', 'A', 'tenant-a'), ('${B}', 'B', 'tenant-b');
      create table public.projects (
        id bigint generated always as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
        title text not null,
        secret boolean not null default false
      );
      alter table public.projects enable row level security;
      -- The README's templates: every member reads the tenant's open rows; secret rows and writes need projects.write.
      create policy projects_read on public.projects for select
        using (tenant_id = auth.tenant_id() and (not secret or auth.has_permission('projects.write')));
      create policy projects_write on public.projects for insert
        with check (tenant_id = auth.tenant_id() and auth.has_permission('projects.write'));
      grant select, insert on public.projects to authenticated;
      alter publication nextmavens_realtime add table public.projects;
      insert into public.projects (tenant_id, title, secret) values ('${A}', 'a-open', false), ('${A}', 'a-secret', true), ('${B}', 'b-open', false);
      -- A custom role of tenant B.
      insert into auth.tenant_roles (tenant_id, name, permissions) values ('${B}', 'writer', '{projects.write,files.write}');
      -- Storage: uploads into the shared bucket need files.write, under the caller's tenant folder.
      insert into storage.buckets (id, name) values ('tenant-files', 'tenant-files');
      create policy tenant_files_write on storage.objects for insert to authenticated
        with check (bucket_id = 'tenant-files' and (storage.foldername(name))[1] = auth.tenant_id()::text and auth.has_permission('files.write'));
      create policy tenant_files_read on storage.objects for select to authenticated
        using (bucket_id = 'tenant-files' and (storage.foldername(name))[1] = auth.tenant_id()::text);
      create function public.whoami() returns jsonb language sql stable as $$
        select jsonb_build_object('tenant', auth.tenant_id(), 'role', auth.tenant_role(), 'super', auth.is_super_admin(),
          'foreign', auth.acting_as_super_admin(), 'write', auth.has_permission('projects.write'))
      $$;
      grant execute on function public.whoami() to authenticated;
      -- Realtime private channels: a tenant's members receive on tenant:<id>; sending needs projects.write.
      create policy tenant_channel_read on realtime.messages for select to authenticated
        using (realtime.topic() = 'tenant:' || auth.tenant_id()::text);
      create policy tenant_channel_write on realtime.messages for insert to authenticated
        with check (realtime.topic() = 'tenant:' || auth.tenant_id()::text and auth.has_permission('projects.write'));
    `,
  });
});

afterAll(async () => {
  for (const c of clients) await c.removeAllChannels();
  await t?.close();
});

describe('permissions as policies', () => {
  let alice: User; // A, member (projects.read)
  let bob: User; // A, admin (projects.write)
  let carol: User; // B, custom role writer (projects.write, files.write)

  beforeAll(async () => {
    [alice, bob, carol] = await Promise.all([user('alice@example.com', A), user('bob@example.com', A, 'admin'), user('carol@example.com', B, 'writer')]);
  });

  it('tokens carry the tenant and the role', () => {
    expect(claimsOf(alice.token)).toMatchObject({ tenant_id: A, tenant_role: 'member' });
    expect(claimsOf(bob.token)).toMatchObject({ tenant_id: A, tenant_role: 'admin' });
    expect(claimsOf(carol.token)).toMatchObject({ tenant_id: B, tenant_role: 'writer' });
    expect(claimsOf(alice.token).is_super_admin).toBeUndefined();
  });

  it('REST: reads by tenant and permission, writes only with projects.write, never into another tenant', async () => {
    expect(titles((await alice.client.from('projects').select('title')).data)).toEqual(['a-open']);
    expect(titles((await bob.client.from('projects').select('title')).data)).toEqual(['a-open', 'a-secret']);
    expect(titles((await carol.client.from('projects').select('title')).data)).toEqual(['b-open']);
    const refused = await alice.client.from('projects').insert({ title: 'by alice' });
    expect(refused.status).toBe(403);
    expect(refused.error?.code).toBe('42501');
    expect((await bob.client.from('projects').insert({ title: 'by bob' })).status).toBe(201);
    expect((await carol.client.from('projects').insert({ title: 'by carol' })).status).toBe(201);
    // Carol writes in B only: a row naming A is refused.
    expect((await carol.client.from('projects').insert({ title: 'into A', tenant_id: A })).status).toBe(403);
    expect(titles((await carol.client.from('projects').select('title')).data)).toEqual(['b-open', 'by carol']);
    // Memberships are readable under RLS: one's own tenants' members only.
    const c = await t.db.admin.connect();
    let rows: { n: number; own: boolean }[];
    try {
      await c.query('begin');
      await c.query(`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)`, [JSON.stringify({ sub: alice.id, role: 'authenticated', tenant_id: A })]);
      ({ rows } = await c.query(`select count(*)::int as n, bool_and(tenant_id = '${A}') as own from auth.tenant_members`));
    } finally {
      await c.query('rollback');
      c.release();
    }
    expect(rows[0]).toEqual({ n: 2, own: true });
  });

  it('GraphQL: the same policies decide', async () => {
    const read = await graphql(alice.token, '{ projects { nodes { title } } }');
    expect(read.json.data.projects.nodes.map((n: { title: string }) => n.title).sort()).toEqual(['a-open', 'by bob']);
    const other = await graphql(carol.token, '{ projects { nodes { title } } }');
    expect(other.json.data.projects.nodes.map((n: { title: string }) => n.title).sort()).toEqual(['b-open', 'by carol']);
    const refused = await graphql(alice.token, 'mutation { createProject(input: { project: { title: "gql alice" } }) { project { title } } }');
    expect(refused.json.errors?.[0]?.message).toMatch(/row-level security/);
    const ok = await graphql(bob.token, 'mutation { createProject(input: { project: { title: "gql bob" } }) { project { title } } }');
    expect(ok.json.data.createProject.project.title).toBe('gql bob');
  });

  it('storage: uploads need files.write in the own tenant folder', async () => {
    expect((await carol.client.storage.from('tenant-files').upload(`${B}/plan.txt`, 'b plan')).error).toBeNull();
    expect((await carol.client.storage.from('tenant-files').upload(`${A}/plan.txt`, 'into A')).error).not.toBeNull();
    const denied = await bob.client.storage.from('tenant-files').upload(`${A}/plan.txt`, 'a plan');
    expect(denied.error).not.toBeNull();
    expect((await carol.client.storage.from('tenant-files').download(`${B}/plan.txt`)).data).toBeTruthy();
    expect((await bob.client.storage.from('tenant-files').download(`${B}/plan.txt`)).data).toBeNull();
  });

  it('realtime: postgres_changes deliver what each subscriber may read (secret rows only with projects.write)', async () => {
    const [ga, gb, gc] = await Promise.all([listen(alice.client, 'p-alice'), listen(bob.client, 'p-bob'), listen(carol.client, 'p-carol')]);
    await t.db.admin.query(`insert into public.projects (tenant_id, title, secret) values ('${A}', 'rt-open', false), ('${A}', 'rt-secret', true), ('${B}', 'rt-b', false)`);
    await until(() => ga.got.length >= 1 && gb.got.length >= 2 && gc.got.length >= 1, 15_000, 'deliveries');
    await new Promise((r) => setTimeout(r, 300)); // nothing else arrives
    expect(ga.got.map((r) => r.title)).toEqual(['rt-open']);
    expect(gb.got.map((r) => r.title).sort()).toEqual(['rt-open', 'rt-secret']);
    expect(gc.got.map((r) => r.title)).toEqual(['rt-b']);
    for (const c of [alice, bob, carol]) await c.client.removeAllChannels();
  });

  it("realtime private channels: the tenant's members receive, only projects.write sends, other tenants cannot join", async () => {
    const topic = `tenant:${A}`;
    const subscribe = (ch: RealtimeChannel) =>
      new Promise<void>((resolve, reject) => ch.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))));
    const got: { who: string; n: number }[] = [];
    const aliceCh = alice.client.channel(topic, { config: { private: true, broadcast: { ack: true } } }).on('broadcast', { event: 'msg' }, (m) => got.push({ who: 'alice', n: m.payload.n }));
    const bobCh = bob.client.channel(topic, { config: { private: true, broadcast: { ack: true } } }).on('broadcast', { event: 'msg' }, (m) => got.push({ who: 'bob', n: m.payload.n }));
    await Promise.all([subscribe(aliceCh), subscribe(bobCh)]);
    const carolCh = carol.client.channel(topic, { config: { private: true } });
    await expect(subscribe(carolCh)).rejects.toThrow(/Unauthorized: You do not have permissions to read/);
    expect(await bobCh.send({ type: 'broadcast', event: 'msg', payload: { n: 1 } })).toBe('ok');
    expect(await aliceCh.send({ type: 'broadcast', event: 'msg', payload: { n: 2 } })).toBe('error');
    await until(() => got.some((g) => g.who === 'alice' && g.n === 1), 10_000, 'the broadcast');
    await new Promise((r) => setTimeout(r, 200));
    expect(got.filter((g) => g.n === 2)).toEqual([]);
    for (const c of [alice, bob, carol]) await c.client.removeAllChannels();
  });

  it('a suspended tenant is refused by REST, GraphQL, storage, realtime and auth; the other tenant carries on; resume restores it', async () => {
    const service = t.db.config.serviceRoleKey;
    const patch = (status: string) =>
      fetch(`${t.stack.url}/auth/v1/tenants/${A}`, { method: 'PATCH', headers: { apikey: service, authorization: `Bearer ${service}`, 'content-type': 'application/json' }, body: JSON.stringify({ status }) });
    const live = await listen(bob.client, 'p-bob-live');
    expect((await patch('suspended')).status).toBe(200);

    const rest = await alice.client.from('projects').select('title');
    expect(rest.status).toBe(403);
    expect(rest.error).toMatchObject({ code: 'PT403', message: 'Tenant is suspended', details: 'tenant_suspended' });
    const gql = await graphql(bob.token, '{ projects { nodes { title } } }');
    expect(gql).toEqual({ status: 403, json: { errors: [{ message: 'The tenant is suspended', extensions: { code: 'TENANT_SUSPENDED' } }] } });
    const upload = await bob.client.storage.from('tenant-files').upload(`${A}/x.txt`, 'x');
    expect(upload.error).toMatchObject({ message: 'The tenant is suspended' });
    await expect(listen(alice.client, 'p-alice-suspended')).rejects.toThrow(/TenantSuspended/);
    expect((await refresh(alice.refresh)).json).toMatchObject({ code: 403, error_code: 'tenant_suspended' });
    const signin = await createClient(t.stack.url, t.db.config.anonKey, opts).auth.signInWithPassword({ email: 'bob@example.com', password: 'secret123' });
    expect(signin.error?.code).toBe('tenant_suspended');
    // Rows committed in the suspended tenant reach no subscriber of it; tenant B is served as before.
    const liveB = await listen(carol.client, 'p-carol-live');
    await t.db.admin.query(`insert into public.projects (tenant_id, title) values ('${A}', 'while suspended'), ('${B}', 'b while A suspended')`);
    await until(() => liveB.got.length >= 1, 15_000, 'B delivery');
    await new Promise((r) => setTimeout(r, 300));
    expect(live.got).toEqual([]);
    expect(titles((await carol.client.from('projects').select('title')).data)).toContain('b while A suspended');

    expect((await patch('active')).status).toBe(200);
    expect(titles((await alice.client.from('projects').select('title')).data)).toContain('while suspended');
    expect((await graphql(bob.token, '{ projects { nodes { title } } }')).status).toBe(200);
    expect((await refresh(alice.refresh)).status).toBe(200);
    for (const c of [bob, carol]) await c.client.removeAllChannels();
  });

  it("PostgREST's db-pre-request, auth.check_request(): refuses a suspended tenant's claims (top-level or app_metadata), lets others and malformed claims through", async () => {
    const checkAs = async (claims: Record<string, unknown>) => {
      const c = await t.db.admin.connect();
      try {
        await c.query('begin');
        // As PostgREST does: role and claims set, then the pre-request function called.
        await c.query(`select set_config('role', 'anon', true), set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
        return await c.query('select auth.check_request()').then(() => 'ok', (err: { code?: string; detail?: string }) => `${err.code} ${err.detail}`);
      } finally {
        await c.query('rollback');
        c.release();
      }
    };
    await t.db.admin.query(`update public.tenants set status = 'suspended' where id = $1`, [B]);
    try {
      expect(await checkAs({ role: 'anon', tenant_id: B })).toBe('PT403 tenant_suspended');
      expect(await checkAs({ role: 'anon', app_metadata: { tenant_id: B.toUpperCase() } })).toBe('PT403 tenant_suspended');
      expect(await checkAs({ role: 'anon', tenant_id: A })).toBe('ok');
      expect(await checkAs({ role: 'anon', tenant_id: 'not-a-uuid' })).toBe('ok');
      expect(await checkAs({ role: 'anon' })).toBe('ok');
    } finally {
      await t.db.admin.query(`update public.tenants set status = 'active' where id = $1`, [B]);
    }
  });

  it('a platform super-admin (granted by the admin API only) switches into a foreign tenant and acts there, marked as such', async () => {
    const root = await user('root@example.com', null);
    expect(claimsOf(root.token).tenant_id).toBeUndefined();
    // Before the grant: no switching into a tenant one is not a member of.
    expect((await refresh(root.refresh, A)).json).toMatchObject({ code: 403, error_code: 'tenant_not_member' });
    // A user cannot grant it to themselves (PUT /user ignores it); service_role can.
    await root.client.auth.updateUser({ data: { is_super_admin: true } });
    const admin = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
    expect((await admin.auth.admin.updateUserById(root.id, { is_super_admin: true } as never)).error).toBeNull();
    const switched = await refresh(root.refresh, A);
    expect(switched.status).toBe(200);
    const token = switched.json.access_token as string;
    expect(claimsOf(token)).toMatchObject({ tenant_id: A, tenant_role: 'super_admin', is_super_admin: true });
    const { rows: logged } = await t.db.admin.query(`select payload from auth.audit_log_entries where payload ->> 'action' = 'tenant_switched' and payload ->> 'actor_id' = $1`, [root.id]);
    expect(logged.map((r) => r.payload)).toEqual([expect.objectContaining({ tenant_id: A, super_admin_foreign: true })]);
    const rootClient = createClient(t.stack.url, t.db.config.anonKey, { ...opts, global: { headers: { Authorization: `Bearer ${token}` } } });
    expect((await rootClient.rpc('whoami')).data).toEqual({ tenant: A, role: 'super_admin', super: true, foreign: true, write: true });
    expect(titles((await rootClient.from('projects').select('title')).data)).toContain('a-secret');
    expect((await rootClient.from('projects').insert({ title: 'by root' })).status).toBe(201);
    expect(titles((await rootClient.from('projects').select('title')).data)).not.toContain('b-open');
    // In the admin API too: tenant A's members, which root is not one of.
    const members = await fetch(`${t.stack.url}/auth/v1/tenants/${A}/members`, { headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}` } });
    expect(members.status).toBe(200);
    expect(((await members.json()) as { user_id: string }[]).map((m) => m.user_id)).not.toContain(root.id);
    // Every one of those requests is in the audit chain, written before it was served (core/super-admin-audit.ts).
    const { rows: audited } = await t.db.admin.query<{ target: string; tenant_id: string; actor_role: string }>(
      `select target, tenant_id, actor_role from audit.entries where action = 'super_admin.request' and actor_id = $1 order by id`, [root.id]);
    expect(audited.map((r) => r.target)).toEqual(expect.arrayContaining(['POST /rest/v1/rpc/whoami', 'GET /rest/v1/projects', 'POST /rest/v1/projects', `GET /auth/v1/tenants/${A}/members`]));
    expect(new Set(audited.map((r) => `${r.tenant_id} ${r.actor_role}`))).toEqual(new Set([`${A} super_admin`]));
    // A member's whoami: not foreign, no super-admin.
    expect((await alice.client.rpc('whoami')).data).toEqual({ tenant: A, role: 'member', super: false, foreign: false, write: false });
    // Revoked: has_permission follows at once (looked up live), and switching is refused.
    await admin.auth.admin.updateUserById(root.id, { is_super_admin: false } as never);
    expect((await rootClient.rpc('whoami')).data).toMatchObject({ super: false, write: false });
    const after = await refresh(switched.json.refresh_token, B);
    expect(after.json).toMatchObject({ error_code: 'tenant_not_member' });
    // …and the foreign tenant they were left in is no longer named by their tokens.
    const plain = await refresh(switched.json.refresh_token);
    expect(plain.status).toBe(200);
    expect(claimsOf(plain.json.access_token).tenant_id).toBeUndefined();
    expect(claimsOf(plain.json.access_token).app_metadata).not.toHaveProperty('tenant_id');
  });
});
