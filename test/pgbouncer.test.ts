/**
 * The stack behind a real PgBouncer 1.18 in transaction pooling mode (test/helpers/pgbouncer.ts):
 * REST, auth, storage and GraphQL through supabase-js and fetch, every request pool and the owner
 * pool on PgBouncer (whose own counters prove the traffic went through it), with two tenants'
 * users each seeing only their own rows. Then the property transaction pooling puts at risk:
 * under many parallel requests of distinct users on few server connections, each request sees
 * only its own caller (`auth.uid()`, `request.jwt.claims`, the role), never another's, and no
 * setting survives its transaction on the shared server connections. Realtime's slot and
 * LISTEN connections bypass PgBouncer (DATABASE_DIRECT_URL): a row change still arrives.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testToken } from './helpers/db.ts';
import { hasPgBouncer, startStackBehindPgBouncer, type StackBehindPgBouncer } from './helpers/pgbouncer.ts';
import { until } from './helpers/wait.ts';

const A = '00000000-0000-4000-8000-0000000000a1';
const B = '00000000-0000-4000-8000-0000000000b2';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

const SQL = `
  insert into public.tenants (id, name, slug) values ('${A}', 'A', 'tenant-a'), ('${B}', 'B', 'tenant-b');
  create table public.notes (
    id bigint generated always as identity primary key,
    tenant_id uuid not null default auth.tenant_id() references public.tenants (id),
    owner uuid not null default auth.uid(),
    body text not null
  );
  select public.enable_tenant_isolation('public.notes');
  create policy notes_owner on public.notes as restrictive using (owner = auth.uid()) with check (owner = auth.uid());
  grant select, insert, update, delete on public.notes to authenticated;
  alter publication nextmavens_realtime add table public.notes;
  -- What a request's transaction sees of its caller, and of settings a previous transaction on the same server connection might have left.
  create function public.whoami() returns json language sql stable as $$
    select json_build_object(
      'uid', auth.uid(), 'role', current_user, 'claims', current_setting('request.jwt.claims', true)::json,
      'leftover', current_setting('nextmavens.test_leftover', true), 'backend', pg_backend_pid())
  $$;
  grant execute on function public.whoami() to anon, authenticated;
  -- A function that sets a transaction-local value: it must not be seen by the next transaction on the connection.
  create function public.set_leftover(v text) returns text language sql volatile as $$ select set_config('nextmavens.test_leftover', v, true) $$;
  grant execute on function public.set_leftover(text) to authenticated;
  insert into storage.buckets (id, name, public) values ('docs', 'docs', false);
  create policy docs_own on storage.objects for all to authenticated
    using (bucket_id = 'docs' and owner_id = auth.uid()::text) with check (bucket_id = 'docs');
`;

describe.skipIf(!hasPgBouncer)('the stack behind PgBouncer (transaction pooling)', () => {
  let t: StackBehindPgBouncer;
  const clients: SupabaseClient[] = [];
  const users: { client: SupabaseClient; id: string; token: string; tenant: string }[] = [];

  const client = (key?: string) => {
    const c = createClient(t.stack.url, key ?? t.db.config.anonKey, opts);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startStackBehindPgBouncer({ sql: SQL, poolSize: 4 });
    const admin = client(t.db.config.serviceRoleKey);
    for (const [email, tenant] of [['ann@a.test', A], ['bob@b.test', B]] as const) {
      const { error } = await admin.auth.admin.createUser({ email, password: 'secret123', email_confirm: true, app_metadata: { tenant_id: tenant } });
      if (error) throw error;
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.removeAllChannels();
    await t?.close();
  });

  it('auth: sign-up and sign-in through PgBouncer', async () => {
    const c = client();
    const { data: up, error: upErr } = await c.auth.signUp({ email: 'new@a.test', password: 'secret123' });
    expect(upErr).toBeNull();
    expect(up.session?.access_token).toBeTruthy();
    for (const [email, tenant] of [['ann@a.test', A], ['bob@b.test', B]] as const) {
      const u = client();
      const { data, error } = await u.auth.signInWithPassword({ email, password: 'secret123' });
      expect(error).toBeNull();
      users.push({ client: u, id: data.user!.id, token: data.session!.access_token, tenant });
    }
    const { data: me } = await users[0].client.auth.getUser();
    expect(me.user?.email).toBe('ann@a.test');
  });

  it('REST: writes and reads as the caller; the other tenant sees none of it', async () => {
    const [ann, bob] = users;
    const { data: inserted, error } = await ann.client.from('notes').insert({ body: 'ann 1' }).select().single();
    expect(error).toBeNull();
    expect(inserted).toMatchObject({ body: 'ann 1', owner: ann.id, tenant_id: A });
    await bob.client.from('notes').insert({ body: 'bob 1' });
    expect((await ann.client.from('notes').select('body')).data).toEqual([{ body: 'ann 1' }]);
    expect((await bob.client.from('notes').select('body')).data).toEqual([{ body: 'bob 1' }]);
    // Bob cannot change Ann's row: zero rows matched under RLS.
    const { data: changed } = await bob.client.from('notes').update({ body: 'taken' }).eq('id', inserted!.id).select();
    expect(changed).toEqual([]);
    const { count } = await client().from('notes').select('*', { count: 'exact', head: true });
    expect(count).toBe(0); // anon
  });

  it('GraphQL: a query and a mutation as the caller, tenant-isolated', async () => {
    const [ann, bob] = users;
    const gql = async (token: string, query: string) => {
      const res = await fetch(`${t.stack.url}/graphql/v1`, { method: 'POST', headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
      return (await res.json()) as { data?: any; errors?: unknown[] };
    };
    const created = await gql(bob.token, `mutation { createNote(input: { note: { body: "bob gql" } }) { note { body owner } } }`);
    expect(created.errors).toBeUndefined();
    expect(created.data.createNote.note).toEqual({ body: 'bob gql', owner: bob.id });
    // Many different queries: PostGraphile would prepare each by name; through PgBouncer 1.18 none may be.
    for (let i = 0; i < 5; i++) {
      const r = await gql(ann.token, `query Q${i} { notes(first: ${i + 1}) { nodes { body tenantId } } }`);
      expect(r.errors).toBeUndefined();
      expect(r.data.notes.nodes).toEqual([{ body: 'ann 1', tenantId: A }]);
    }
    const r = await gql(bob.token, `{ notes(orderBy: BODY_ASC) { nodes { body } } }`);
    expect(r.data.notes.nodes.map((n: { body: string }) => n.body)).toEqual(['bob 1', 'bob gql']);
  });

  it('storage: upload, download and list as the caller; the other user gets nothing', async () => {
    const [ann, bob] = users;
    const { error } = await ann.client.storage.from('docs').upload('ann/a.txt', new Blob(['hello from ann'], { type: 'text/plain' }));
    expect(error).toBeNull();
    const { data } = await ann.client.storage.from('docs').download('ann/a.txt');
    expect(await data!.text()).toBe('hello from ann');
    const { data: listed } = await ann.client.storage.from('docs').list('ann');
    expect(listed!.map((o) => o.name)).toEqual(['a.txt']);
    const denied = await bob.client.storage.from('docs').download('ann/a.txt');
    expect(denied.data).toBeNull();
    expect((await bob.client.storage.from('docs').list('ann')).data).toEqual([]);
  });

  it('realtime: a row change reaches its subscriber (the slot and LISTEN bypass PgBouncer)', async () => {
    const [ann, bob] = users;
    await ann.client.realtime.setAuth(ann.token);
    const got: unknown[] = [];
    const ch = ann.client.channel('notes-changes').on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'notes' }, (p) => got.push(p.new));
    await new Promise<void>((resolve, reject) => ch.subscribe((s) => (s === 'SUBSCRIBED' ? resolve() : s === 'CHANNEL_ERROR' ? reject(new Error(s)) : undefined)));
    await until(async () => {
      await bob.client.from('notes').insert({ body: 'bob rt' });
      await ann.client.from('notes').insert({ body: 'ann rt' });
      return got.length > 0;
    }, 20_000, 'the change');
    // Ann receives her own rows only.
    expect(got.every((r) => (r as { owner: string }).owner === ann.id)).toBe(true);
  });

  it('went through PgBouncer: its counters saw the transactions', async () => {
    const stats = await t.bouncer.stats(t.db.name);
    expect(stats!.total_xact_count).toBeGreaterThan(20);
  });

  it('under concurrency each request sees only its own caller, and no setting outlives its transaction', async () => {
    const N = 40;
    const tokens = await Promise.all(
      Array.from({ length: N }, (_, i) => testToken({ sub: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, role: 'authenticated', tenant_id: i % 2 ? A : B, n: i })),
    );
    const callers = tokens.map((token) => createClient(t.stack.url, t.db.config.anonKey, { ...opts, global: { headers: { Authorization: `Bearer ${token}` } } }));
    const backends = new Set<number>();
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(
        callers.map(async (rest, i) => {
          // A write of a transaction-local value, then a read: the read must not see it (nor anyone's).
          if (i % 3 === 0) expect((await rest.rpc('set_leftover', { v: `from ${i}` })).error).toBeNull();
          const { data, error } = await rest.rpc('whoami');
          expect(error).toBeNull();
          return { i, who: data as { uid: string; role: string; claims: { n: number; sub: string; tenant_id: string }; leftover: string | null; backend: number } };
        }),
      );
      for (const { i, who } of results) {
        backends.add(who.backend);
        expect(who.uid).toBe(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        expect(who.claims.n).toBe(i);
        expect(who.claims.tenant_id).toBe(i % 2 ? A : B);
        expect(who.role).toBe('authenticated');
        expect(who.leftover ?? '').toBe('');
      }
    }
    // Forty callers shared the few server connections of PgBouncer's pool (default_pool_size 4 per user).
    expect(backends.size).toBeLessThanOrEqual(4);
    // An anonymous request on those same server connections is anon, with no claims of anyone.
    const anon = await client().rpc('whoami');
    expect(anon.data).toMatchObject({ uid: null, role: 'anon' });
    expect(anon.data.claims).not.toHaveProperty('sub');
    expect(anon.data.claims).not.toHaveProperty('n');
  }, 60_000);

  it('session state stays off the pooled connections: the leader lock and LISTEN are held on direct ones', async () => {
    const c = new pg.Client({ connectionString: t.db.url });
    await c.connect();
    try {
      const pooled = new Set(await t.bouncer.serverPids(t.db.name));
      expect(pooled.size).toBeGreaterThan(0);
      const { rows: locks } = await c.query<{ pid: number }>(`select pid from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = $1)`, [t.db.name]);
      expect(locks.length).toBeGreaterThan(0); // realtime's leader
      for (const { pid } of locks) expect(pooled.has(pid)).toBe(false);
      // The listeners (schema watch, job worker, GraphQL) idle in LISTEN on connections of their own.
      const { rows: idle } = await c.query<{ pid: number; query: string }>(`select pid, query from pg_stat_activity where datname = $1 and query ilike 'listen%'`, [t.db.name]);
      expect(idle.length).toBeGreaterThan(0);
      for (const { pid } of idle) expect(pooled.has(pid)).toBe(false);
    } finally {
      await c.end();
    }
  });
});
