/**
 * Views as PostgREST serves them: a view inherits the primary key and the foreign keys of the
 * table columns it shows (traced through the view's query), also when the tables live in a schema
 * that is not exposed — the usual "api views over private tables" layout — so embeds, Location
 * and upserts work on views. RLS of the tables still decides (security_invoker views).
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let supabase: SupabaseClient;

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      create schema private;
      create table private.authors (id int primary key, name text not null, hidden boolean not null default false);
      create table private.books (id int primary key, title text not null, author_id int references private.authors (id));
      alter table private.authors enable row level security;
      create policy visible on private.authors for select using (not hidden);
      alter table private.books enable row level security;
      create policy open on private.books for all using (true) with check (true);
      insert into private.authors values (1, 'Le Guin', false), (2, 'Secret', true);
      insert into private.books values (10, 'Earthsea', 1), (11, 'Lathe', 1), (12, 'Hidden book', 2);
      create view public.authors with (security_invoker = true) as select id, name as full_name from private.authors;
      create view public.books with (security_invoker = true) as select b.id as book_id, b.title, b.author_id as writer from private.books b;
      grant usage on schema private to anon;
      grant select on private.authors to anon;
      grant select, insert, update on private.books to anon;
      grant select on public.authors to anon;
      grant select, insert, update on public.books to anon;`,
  });
  supabase = createClient(t.stack.url, t.db.config.anonKey, { auth: { persistSession: false } });
});

afterAll(async () => {
  await t?.close();
});

it('embeds many-to-one and one-to-many through views over tables of a private schema', async () => {
  const books = await supabase.from('books').select('title, authors(full_name)').order('book_id');
  expect(books.error).toBeNull();
  expect(books.data).toEqual([
    { title: 'Earthsea', authors: { full_name: 'Le Guin' } },
    { title: 'Lathe', authors: { full_name: 'Le Guin' } },
    { title: 'Hidden book', authors: null }, // RLS on private.authors hides author 2
  ]);
  const authors = await supabase.from('authors').select('full_name, books(title)').order('id');
  expect(authors.error).toBeNull();
  expect(authors.data).toEqual([{ full_name: 'Le Guin', books: [{ title: 'Earthsea' }, { title: 'Lathe' }] }]);
});

it('a view gets its table primary key: upsert on it and Location from it', async () => {
  const up = await supabase.from('books').upsert({ book_id: 10, title: 'A Wizard of Earthsea', writer: 1 }).select('book_id, title');
  expect(up.error).toBeNull();
  expect(up.data).toEqual([{ book_id: 10, title: 'A Wizard of Earthsea' }]);
  const res = await fetch(`${t.stack.url}/rest/v1/books`, {
    method: 'POST',
    headers: { apikey: t.db.config.anonKey, 'content-type': 'application/json', prefer: 'return=headers-only' },
    body: JSON.stringify({ book_id: 13, title: 'Tehanu', writer: 1 }),
  });
  expect(res.status).toBe(201);
  expect(res.headers.get('location')).toBe('/books?book_id=eq.13');
});
