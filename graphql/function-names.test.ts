/**
 * A function named like a table of its schema — how a REST computed relationship replaces a
 * foreign key (`posts(authors)` beside table `posts`, PostgREST's override) — must not stop
 * GraphQL from building its schema (PostGraphile refuses two resources of one name, and the stack
 * then never finished starting): the function's resource becomes `<name>_computed`, the table
 * keeps its name; on the row type the function is the field `posts` (as in REST, where it replaces
 * the foreign key) and the foreign key is `authoredPosts`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      create table public.authors (id int primary key, name text);
      create table public.posts (id int primary key, author_id int references public.authors (id), title text);
      insert into public.authors values (1, 'ann');
      insert into public.posts values (1, 1, 'pub: one'), (2, 1, 'draft');
      create function public.posts(a public.authors) returns setof public.posts language sql stable as
        $$ select * from public.posts where author_id = a.id and title like 'pub:%' order by id $$;
      grant select on public.authors, public.posts to anon;
    `,
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

it('the stack starts; GraphQL serves the table and the function under distinct names; REST embeds through the override', async () => {
  const headers = { 'content-type': 'application/json', apikey: t.db.config.anonKey };
  const gql = await fetch(`${t.stack.url}/graphql/v1`, { method: 'POST', headers, body: JSON.stringify({ query: '{ posts { totalCount } authors { nodes { name posts { nodes { title } } authoredPosts { nodes { title } } } } }' }) });
  expect(await gql.json()).toEqual({ data: { posts: { totalCount: 2 }, authors: { nodes: [{ name: 'ann', posts: { nodes: [{ title: 'pub: one' }] }, authoredPosts: { nodes: [{ title: 'pub: one' }, { title: 'draft' }] } }] } } });
  const rest = await fetch(`${t.stack.url}/rest/v1/authors?select=name,posts(title)`, { headers });
  expect(await rest.json()).toEqual([{ name: 'ann', posts: [{ title: 'pub: one' }] }]);
});
