/**
 * GraphQL through a real client (fetch) against the embedded stack: queries, filters,
 * pagination, mutations, and RLS for two tenants exactly as REST applies it.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';

const token = (tenant: string) =>
  new SignJWT({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant })
    .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_JWT_SECRET));

async function gql(query: string, variables: Record<string, unknown> = {}, bearer?: string, path = '/graphql/v1') {
  const res = await fetch(stack.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', apikey: db.config.anonKey, authorization: `Bearer ${bearer ?? db.config.anonKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...(await body(res)) };
}

beforeAll(async () => {
  t = await startTestStack({ fixtures: 'rest-basic.sql' });
  ({ db, stack } = t);
}, 60_000);

afterAll(() => t?.close());

describe('graphql', () => {
  it('queries with simplified inflection, relations, filters and pagination', async () => {
    const r = await gql(`{ projects(orderBy: ID_ASC, first: 2, filter: { clientId: { equalTo: 1 } }) { nodes { id name client { name } tasks { totalCount } } totalCount } }`);
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data.projects).toEqual({
      nodes: [
        { id: 1, name: 'Windows 7', client: { name: 'Microsoft' }, tasks: { totalCount: 2 } },
        { id: 2, name: 'Windows 10', client: { name: 'Microsoft' }, tasks: { totalCount: 2 } },
      ],
      totalCount: 2,
    });
  });

  it('serves /graphql too, and the playground on GET for browsers', async () => {
    const r = await gql(`{ clients(orderBy: ID_ASC) { nodes { name } } }`, {}, undefined, '/graphql');
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data.clients.nodes).toEqual([{ name: 'Microsoft' }, { name: 'Apple' }]);
    const page = await fetch(`${stack.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/ruru|graphiql/i);
  });

  it('mutations create, update and delete', async () => {
    const created = await gql(`mutation { createClient(input: { client: { id: 50, name: "Acme" } }) { client { id name } } }`, {}, undefined);
    expect(created.errors).toBeUndefined();
    expect(created.data.createClient.client).toEqual({ id: 50, name: 'Acme' });
    const updated = await gql(`mutation { updateClient(input: { id: 50, patch: { name: "Acme Inc" } }) { client { name } } }`);
    expect(updated.data.updateClient.client.name).toBe('Acme Inc');
    const deleted = await gql(`mutation { deleteClient(input: { id: 50 }) { client { id } } }`);
    expect(deleted.data.deleteClient.client.id).toBe(50);
  });

  it('functions are exposed as queries and mutations', async () => {
    const r = await gql(`{ sayhello(name: "gql") }`);
    expect(r.data.sayhello).toBe('Hello, gql');
  });

  it('RLS: each tenant sees only its rows; anon none', async () => {
    const a = await gql(`{ todos(orderBy: TITLE_ASC) { nodes { title } } }`, {}, await token(TENANT_A));
    expect(a.data.todos.nodes).toEqual([{ title: 'a: first' }, { title: 'a: second' }]);
    const b = await gql(`{ todos { nodes { title } totalCount } }`, {}, await token(TENANT_B));
    expect(b.data.todos).toEqual({ nodes: [{ title: 'b: only' }], totalCount: 1 });
    const anon = await gql(`{ todos { totalCount } }`);
    expect(anon.data.todos.totalCount).toBe(0);
    const viaRelation = await gql(`{ project(id: 3) { todos { nodes { title } } } }`, {}, await token(TENANT_A));
    expect(viaRelation.data.project.todos.nodes).toEqual([]);
  });

  it('refuses invalid tokens', async () => {
    const r = await gql(`{ clients { totalCount } }`, {}, 'not.a.jwt');
    expect(r.errors?.[0]?.message ?? r.status).toBeTruthy();
    expect(r.data?.clients).toBeUndefined();
  });

  it('follows DDL: a table created at runtime is queryable', async () => {
    await db.admin.query(`create table public.gadgets (id int primary key, label text); insert into public.gadgets values (1, 'gizmo')`);
    const deadline = Date.now() + 10_000;
    let r = await gql(`{ gadgets { nodes { label } } }`);
    while (r.errors && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      r = await gql(`{ gadgets { nodes { label } } }`);
    }
    expect(r.data?.gadgets?.nodes).toEqual([{ label: 'gizmo' }]);
  }, 20_000);
});
