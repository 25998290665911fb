/**
 * The REST API through the official client: every builder method of @supabase/postgrest-js
 * (inside supabase-js) against the embedded stack over a real database, plus tenancy under RLS.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let anon: SupabaseClient;
let service: SupabaseClient;

const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';
const USER_A = '11111111-1111-4111-8111-11111111111a';
const USER_B = '11111111-1111-4111-8111-11111111111b';

function userToken(sub: string, tenant: string): Promise<string> {
  return testToken({ role: 'authenticated', sub, tenant_id: tenant, app_metadata: { tenant_id: tenant } });
}

function client(key: string, accessToken?: string): SupabaseClient {
  return createClient(stack.url, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {},
  });
}

beforeAll(async () => {
  t = await startTestStack({ fixtures: 'rest-basic.sql' });
  ({ db, stack } = t);
  anon = client(db.config.anonKey);
  service = client(db.config.serviceRoleKey);
});

afterAll(() => t?.close());

describe('reads', () => {
  it('select, eq, order, limit', async () => {
    const { data, error, status } = await anon.from('projects').select('id, name').eq('client_id', 1).order('id', { ascending: false }).limit(1);
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data).toEqual([{ id: 2, name: 'Windows 10' }]);
  });

  it('embeds many-to-one, one-to-many and many-to-many, with aliases', async () => {
    const { data, error } = await anon.from('projects').select('id, name, client:clients(name), tasks(id, name)').eq('id', 1).single();
    expect(error).toBeNull();
    expect(data).toEqual({ id: 1, name: 'Windows 7', client: { name: 'Microsoft' }, tasks: [{ id: 1, name: 'Design w7' }, { id: 2, name: 'Code w7' }] });
    const m2m = await anon.from('tasks').select('id, users(id)').in('id', [1, 8]).order('id');
    expect(m2m.data).toEqual([{ id: 1, users: [{ id: 1 }, { id: 3 }] }, { id: 8, users: [] }]);
    const orphan = await anon.from('projects').select('id, clients(id)').eq('id', 5).single();
    expect(orphan.data).toEqual({ id: 5, clients: null });
  });

  it('filters, orders and limits inside embeds; inner joins; spreads', async () => {
    const nested = await anon
      .from('clients')
      .select('id, projects(id, tasks(id, name))')
      .like('projects.tasks.name', 'Design*')
      .order('id')
      .order('id', { referencedTable: 'projects' });
    expect(nested.error).toBeNull();
    expect(nested.data![0]).toEqual({ id: 1, projects: [{ id: 1, tasks: [{ id: 1, name: 'Design w7' }] }, { id: 2, tasks: [{ id: 3, name: 'Design w10' }] }] });
    const limited = await anon.from('clients').select('id, projects(id)').order('id').order('id', { referencedTable: 'projects', ascending: false }).limit(1, { referencedTable: 'projects' });
    expect(limited.data).toEqual([{ id: 1, projects: [{ id: 2 }] }, { id: 2, projects: [{ id: 4 }] }]);
    const inner = await anon.from('projects').select('id, clients!inner(id)').eq('clients.id', 2).order('id');
    expect(inner.data).toEqual([{ id: 3, clients: { id: 2 } }, { id: 4, clients: { id: 2 } }]);
    const spread = await anon.from('projects').select('id, ...clients(client_name:name)').order('id');
    expect(spread.data![0]).toEqual({ id: 1, client_name: 'Microsoft' });
    expect(spread.data![4]).toEqual({ id: 5, client_name: null });
  });

  it('operators: in, is, like/ilike, match, cs/cd, range operators, fts, or/not', async () => {
    const ids = (r: { data: { id: number }[] | null }) => r.data?.map((x) => x.id);
    expect(ids(await anon.from('items').select('id').in('id', [1, 3, 5]).order('id'))).toEqual([1, 3, 5]);
    expect(ids(await anon.from('chores').select('id').is('done', null))).toEqual([3]);
    expect(ids(await anon.from('chores').select('id').is('done', true))).toEqual([1]);
    expect(ids(await anon.from('projects').select('id').ilike('name', 'windows*').order('id'))).toEqual([1, 2]);
    expect(ids(await anon.from('projects').select('id').like('name', '%OS%').order('id'))).toEqual([3, 4]);
    expect(ids(await anon.from('projects').select('id').match({ client_id: 2, name: 'IOS' }))).toEqual([3]);
    expect(ids(await anon.from('complex_items').select('id').contains('arr_data', [2]).order('id'))).toEqual([2, 3]);
    expect(ids(await anon.from('complex_items').select('id').containedBy('arr_data', [1, 2, 4]).order('id'))).toEqual([1, 2]);
    expect(ids(await anon.from('ranges').select('id').overlaps('range', '[0,4]').order('id'))).toEqual([1, 2]);
    expect(ids(await anon.from('ranges').select('id').rangeAdjacent('range', '(3,10]'))).toEqual([1]);
    expect(ids(await anon.from('entities').select('id').textSearch('text_search_vector', 'foo'))).toEqual([1]);
    expect(ids(await anon.from('entities').select('id').or('id.eq.1,id.eq.2').order('id'))).toEqual([1, 2]);
    expect(ids(await anon.from('entities').select('id').not('id', 'in', '(1,2)').order('id'))).toEqual([3, 4]);
    expect(ids(await anon.from('entities').select('id').or('and(name.eq.entity 2,id.eq.2),and(name.eq.entity 1,id.eq.1)').order('id'))).toEqual([1, 2]);
  });

  it('JSON paths and casts', async () => {
    const { data } = await anon.from('complex_items').select('id, bar:settings->foo->>bar, myInt:settings->foo->>int::integer, id_text:id::text').eq('id', 1);
    expect(data).toEqual([{ id: 1, bar: 'baz', myInt: 1, id_text: '1' }]);
  });

  it('ranges and counts: exact count, head, Content-Range', async () => {
    const page = await anon.from('items').select('id', { count: 'exact' }).order('id').range(2, 4);
    expect(page.status).toBe(206);
    expect(page.count).toBe(15);
    expect(page.data).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
    const head = await anon.from('items').select('*', { count: 'exact', head: true }).gt('id', 10);
    expect(head.count).toBe(5);
    expect(head.data).toBeNull();
    const planned = await anon.from('items').select('*', { count: 'planned', head: true });
    expect(planned.count).toBeGreaterThan(0);
  });

  it('single, maybeSingle, csv', async () => {
    expect((await anon.from('clients').select('name').eq('id', 2).single()).data).toEqual({ name: 'Apple' });
    const none = await anon.from('clients').select('name').eq('id', 99).single();
    expect(none.error?.code).toBe('PGRST116');
    expect(none.status).toBe(406);
    expect((await anon.from('clients').select('name').eq('id', 99).maybeSingle()).data).toBeNull();
    const csv = await anon.from('clients').select('id, name').order('id').csv();
    expect(csv.data).toBe('id,name\n1,Microsoft\n2,Apple');
  });
});

describe('writes', () => {
  it('insert returns nothing by default, the representation on request, with embeds', async () => {
    const minimal = await service.from('projects').insert({ id: 10, name: 'New', client_id: 1 });
    expect(minimal.status).toBe(201);
    expect(minimal.data).toBeNull();
    const repr = await service.from('projects').insert({ id: 11, name: 'Newer', client_id: 2 }).select('id, name, clients(name)').single();
    expect(repr.status).toBe(201);
    expect(repr.data).toEqual({ id: 11, name: 'Newer', clients: { name: 'Apple' } });
  });

  it('bulk insert with differing keys (columns=), defaults and missing=default', async () => {
    const { data, error } = await service.from('items').insert([{ note: 'x' }, {}]).select('note');
    expect(error).toBeNull();
    expect(data).toEqual([{ note: 'x' }, { note: null }]);
    const withDefaults = await service.from('complex_items').insert([{ id: 20, name: 'a' }, { id: 21 }], { defaultToNull: false }).select('id, name, field-with_sep');
    expect(withDefaults.error).toBeNull();
    expect(withDefaults.data).toEqual([{ id: 20, name: 'a', 'field-with_sep': 1 }, { id: 21, name: null, 'field-with_sep': 1 }]);
  });

  it('upsert merges or ignores duplicates', async () => {
    const merged = await service.from('clients').upsert({ id: 2, name: 'Apple Inc.' }).select();
    expect(merged.error).toBeNull();
    expect(merged.data).toEqual([{ id: 2, name: 'Apple Inc.' }]);
    const ignored = await service.from('clients').upsert({ id: 2, name: 'ignored' }, { ignoreDuplicates: true }).select();
    expect(ignored.data).toEqual([]);
    expect((await anon.from('clients').select('name').eq('id', 2).single()).data).toEqual({ name: 'Apple Inc.' });
  });

  it('update and delete with filters, representation and counts', async () => {
    const upd = await service.from('chores').update({ done: true }).eq('id', 2).select('id, done');
    expect(upd.data).toEqual([{ id: 2, done: true }]);
    const none = await service.from('chores').update({ done: true }).eq('id', 999);
    expect(none.status).toBe(204);
    const del = await service.from('items').delete({ count: 'exact' }).gt('id', 13).lte('id', 15).select('id');
    expect(del.count).toBe(2);
    expect(del.data?.map((r) => r.id).sort()).toEqual([14, 15]);
  });

  it('unique and foreign key violations are 409 with the Postgres error', async () => {
    const dup = await service.from('clients').insert({ id: 1, name: 'dup' });
    expect(dup.status).toBe(409);
    expect(dup.error?.code).toBe('23505');
    const fk = await service.from('projects').insert({ id: 99, name: 'x', client_id: 42 });
    expect(fk.status).toBe(409);
    expect(fk.error?.code).toBe('23503');
  });
});

describe('rpc', () => {
  it('scalar, set-returning with filters, void, GET for stable functions', async () => {
    expect((await anon.rpc('sayhello', { name: 'world' })).data).toBe('Hello, world');
    expect((await anon.rpc('add_them', { a: 1, b: 2 }, { get: true })).data).toBe(3);
    const range = await anon.rpc('getitemrange', { min: 2, max: 6 }).gt('id', 3).order('id', { ascending: false });
    expect(range.data).toEqual([{ id: 6, note: null }, { id: 5, note: null }, { id: 4, note: null }]);
    expect((await anon.rpc('ret_setof_integers')).data).toEqual([1, 2, 3]);
    const v = await anon.rpc('ret_void');
    expect(v.status).toBe(204);
    const proj = await anon.rpc('getproject', { id: 1 }).select('id, clients(name)').single();
    expect(proj.data).toEqual({ id: 1, clients: { name: 'Microsoft' } });
  });

  it('volatile functions write on POST and are refused on GET (405)', async () => {
    const added = await service.rpc('add_item', { note: 'from rpc' });
    expect(added.error).toBeNull();
    expect(added.data).toMatchObject({ note: 'from rpc' });
    const viaGet = await service.rpc('add_item', { note: 'nope' }, { get: true });
    expect(viaGet.status).toBe(405);
    expect(viaGet.error?.code).toBe('25006');
  });

  it('unknown functions are 404 PGRST202', async () => {
    const res = await anon.rpc('no_such_function', { a: 1 });
    expect(res.status).toBe(404);
    expect(res.error?.code).toBe('PGRST202');
  });
});

describe('errors', () => {
  it('unknown table, column, relationship and bad syntax are clear 4xx', async () => {
    const table = await anon.from('nope').select();
    expect([table.status, table.error?.code]).toEqual([404, 'PGRST205']);
    const column = await anon.from('clients').select('banana');
    expect([column.status, column.error?.code, column.error?.message]).toEqual([400, '42703', 'column clients.banana does not exist']);
    const rel = await anon.from('clients').select('id, tasks(id)');
    expect([rel.status, rel.error?.code]).toEqual([400, 'PGRST200']);
    const bad = await fetch(`${stack.url}/rest/v1/items?id=0`, { headers: { apikey: db.config.anonKey } });
    expect(bad.status).toBe(400);
    expect((await bad.json() as { code: string }).code).toBe('PGRST100');
  });
});

describe('tenancy under RLS', () => {
  let a: SupabaseClient;
  let b: SupabaseClient;

  beforeAll(async () => {
    a = client(db.config.anonKey, await userToken(USER_A, TENANT_A));
    b = client(db.config.anonKey, await userToken(USER_B, TENANT_B));
  });

  it('each tenant reads, counts and embeds only its rows; anon sees none', async () => {
    const ra = await a.from('todos').select('title', { count: 'exact' }).order('title');
    expect(ra.data).toEqual([{ title: 'a: first' }, { title: 'a: second' }]);
    expect(ra.count).toBe(2);
    const rb = await b.from('todos').select('title');
    expect(rb.data).toEqual([{ title: 'b: only' }]);
    expect((await anon.from('todos').select('title')).data).toEqual([]);
    const embedded = await a.from('projects').select('id, todos(title)').in('id', [1, 3]).order('id');
    expect(embedded.data).toEqual([{ id: 1, todos: [{ title: 'a: first' }] }, { id: 3, todos: [] }]);
    const inner = await b.from('projects').select('id, todos!inner(id)', { count: 'exact' });
    expect(inner.count).toBe(1);
    expect((await a.rpc('todo_count')).data).toBe(2);
    expect((await b.rpc('whoami')).data).toEqual({ role: 'authenticated', uid: USER_B, tenant: TENANT_B });
  });

  it('writes stay inside the tenant', async () => {
    const own = await a.from('todos').insert({ title: 'a: third' }).select('title, tenant_id, owner').single();
    expect(own.data).toEqual({ title: 'a: third', tenant_id: TENANT_A, owner: USER_A });
    const foreign = await a.from('todos').insert({ title: 'sneaky', tenant_id: TENANT_B });
    expect(foreign.status).toBe(403);
    expect(foreign.error?.code).toBe('42501');
    const upd = await a.from('todos').update({ title: 'hijacked' }).eq('title', 'b: only').select();
    expect(upd.data).toEqual([]);
    const del = await a.from('todos').delete().eq('title', 'b: only').select();
    expect(del.data).toEqual([]);
    expect((await b.from('todos').select('title')).data).toEqual([{ title: 'b: only' }]);
  });
});

describe('schema cache', () => {
  it('serves a table created while the stack runs, without a restart', async () => {
    await db.admin.query(`create table public.created_later (id int primary key, label text); insert into public.created_later values (1, 'hello')`);
    const deadline = Date.now() + 5000;
    let res = await anon.from('created_later').select();
    while (res.error && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      res = await anon.from('created_later').select();
    }
    expect(res.data).toEqual([{ id: 1, label: 'hello' }]);
  });
});

describe('aggregates', () => {
  it('count(), sum/avg/max/min with group by on the other columns, and inside embeds', async () => {
    const total = await anon.from('projects').select('count()').lte('id', 5);
    expect(total.data).toEqual([{ count: 5 }]);
    const perClient = await anon.from('projects').select('client_id, n:count(), max_id:id.max()').not('client_id', 'is', null).lte('id', 5).order('client_id');
    expect(perClient.error).toBeNull();
    expect(perClient.data).toEqual([{ client_id: 1, n: 2, max_id: 2 }, { client_id: 2, n: 2, max_id: 4 }]);
    const embedded = await anon.from('clients').select('id, projects(count)').lte('projects.id', 5).order('id');
    expect(embedded.data).toEqual([{ id: 1, projects: [{ count: 2 }] }, { id: 2, projects: [{ count: 2 }] }]);
    const casted = await anon.from('complex_items').select('total:id.sum()::text').lte('id', 3);
    expect(casted.data).toEqual([{ total: '6' }]);
  });
});
