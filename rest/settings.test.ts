/**
 * REST_MAX_ROWS (PostgREST's db-max-rows) and REST_DB_PLAN_ENABLED (db-plan-enabled) on a stack
 * that sets both: every read and every embed returns at most max-rows rows (writes do not),
 * count=estimated counts exactly up to max-rows and takes the planner's estimate beyond it, and
 * `Accept: application/vnd.pgrst.plan…` answers Postgres's EXPLAIN of the request's statement.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const MAX_ROWS = 3;

const SCHEMA = `
set search_path = public;
create table shelves (id int primary key, name text);
create table books (id int primary key, shelf_id int references shelves, title text, tag text);
insert into shelves select g, 'shelf ' || g from generate_series(1, 5) g;
insert into books select g, 1 + (g % 2), 'book ' || g, case when g <= 2 then 'rare' else 'common' end from generate_series(1, 8) g;
create function all_books() returns setof books language sql stable as $$ select * from books order by id $$;
create function book_ids() returns setof int language sql stable as $$ select id from books order by id $$;
`;

let t: TestStack;
let anon: SupabaseClient;
let service: SupabaseClient;

async function request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await fetch(`${t.stack.url}/rest/v1${path}`, { ...init, headers: { apikey: t.db.config.serviceRoleKey, Authorization: `Bearer ${t.db.config.serviceRoleKey}`, ...init.headers } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

beforeAll(async () => {
  t = await startTestStack({ sql: SCHEMA, env: { REST_MAX_ROWS: String(MAX_ROWS), REST_DB_PLAN_ENABLED: 'true' } });
  const opts = { auth: { persistSession: false, autoRefreshToken: false } };
  anon = createClient(t.stack.url, t.db.config.anonKey, opts);
  service = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
});

afterAll(() => t?.close());

describe('REST_MAX_ROWS', () => {
  it('caps reads, ranges, embeds and RPC results; an exact count still counts every row', async () => {
    const all = await anon.from('books').select('id', { count: 'exact' }).order('id');
    expect(all.data).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(all.count).toBe(8);
    expect(all.status).toBe(206);
    const offset = await anon.from('books').select('id').order('id').range(4, 7);
    expect(offset.data).toEqual([{ id: 5 }, { id: 6 }, { id: 7 }]);
    expect((await anon.from('books').select('id').order('id').limit(2)).data).toEqual([{ id: 1 }, { id: 2 }]);
    const embeds = await anon.from('shelves').select('id, books(id)').eq('id', 1).order('id', { referencedTable: 'books' }).single();
    expect(embeds.data).toEqual({ id: 1, books: [{ id: 2 }, { id: 4 }, { id: 6 }] });
    expect((await anon.rpc('all_books').select('id')).data).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect((await anon.rpc('book_ids')).data).toEqual([1, 2, 3]);
  });

  it('does not cap what a write returns', async () => {
    const { data, error } = await service.from('books').update({ tag: 'x' }).gt('id', 0).select('id').rollback();
    expect(error).toBeNull();
    expect(data).toHaveLength(8);
  });

  it('count=estimated: exact up to max-rows, the higher of exact and planned beyond it', async () => {
    const few = await anon.from('books').select('id', { count: 'estimated', head: true }).eq('tag', 'rare');
    expect(few.count).toBe(2);
    // Beyond max-rows the planner decides: compare with its estimate for the same rows.
    const { rows } = await t.db.admin.query(`explain (format json) select 1 from public.books`);
    const planned = rows[0]['QUERY PLAN'][0].Plan['Plan Rows'] as number;
    const many = await anon.from('books').select('id', { count: 'estimated', head: true });
    expect(many.count).toBe(Math.max(planned, MAX_ROWS + 1));
  });
});

describe('REST_DB_PLAN_ENABLED', () => {
  it('answers EXPLAIN in JSON or text, with PostgREST content types', async () => {
    const json = await anon.from('books').select('id, shelves(name)').eq('id', 1).explain({ format: 'json' });
    expect(json.error).toBeNull();
    expect((json.data as unknown as { Plan: { 'Node Type': string } }[])[0].Plan['Node Type']).toBe('Aggregate');
    const text = await request('/books?id=eq.1', { headers: { Accept: 'application/vnd.pgrst.plan' } });
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe('application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8');
    expect(text.text).toMatch(/^Aggregate {2}\(cost=/);
    const csv = await request('/books', { headers: { Accept: 'application/vnd.pgrst.plan+json; for="text/csv"; options=verbose|analyze' } });
    expect(csv.headers.get('content-type')).toBe('application/vnd.pgrst.plan+json; for="text/csv"; options=analyze|verbose; charset=utf-8');
    const plan = JSON.parse(csv.text)[0];
    expect(plan['Execution Time']).toBeGreaterThanOrEqual(0);
    expect(plan.Plan.Output.join(' ')).toContain('string_agg');
    expect(plan['Query Identifier']).toEqual(expect.any(Number)); // compute_query_id (sql/0031), as Supabase's Postgres
  });

  it('explains RPC calls and writes; analyze runs the write, tx=rollback undoes it', async () => {
    const rpc = await request('/rpc/all_books?id=gt.2', { headers: { Accept: 'application/vnd.pgrst.plan+json' } });
    expect(rpc.status).toBe(200);
    expect(JSON.parse(rpc.text)[0].Plan).toBeDefined();
    const write = await request('/books', {
      method: 'POST',
      headers: { Accept: 'application/vnd.pgrst.plan+json; options=analyze', 'Content-Type': 'application/json', Prefer: 'tx=rollback' },
      body: JSON.stringify({ id: 100, shelf_id: 1, title: 'new' }),
    });
    expect(write.status).toBe(200);
    expect(JSON.parse(write.text)[0].Plan['Actual Rows']).toBe(1);
    expect((await t.db.admin.query('select 1 from public.books where id = 100')).rowCount).toBe(0);
  });

  it('a plan for a media type that is not served is 406', async () => {
    const res = await request('/books', { headers: { Accept: 'application/vnd.pgrst.plan+json; for="image/png"' } });
    expect(res.status).toBe(406);
    expect(JSON.parse(res.text).code).toBe('PGRST107');
  });
});
