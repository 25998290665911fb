/**
 * GraphQL through a real client (fetch) against the embedded stack: queries, filters,
 * pagination, mutations, and RLS for two tenants exactly as REST applies it.
 */
import { getIntrospectionQuery } from 'postgraphile/graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { body } from '../test/helpers/http.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';

const token = (tenant: string) =>
  testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });

async function gql(query: string, variables: Record<string, unknown> = {}, bearer?: string, path = '/graphql/v1', accept = 'application/json') {
  const res = await fetch(stack.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, apikey: db.config.anonKey, authorization: `Bearer ${bearer ?? db.config.anonKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...(await body(res)) };
}

const STATEMENT_TIMEOUT_MS = 400;

beforeAll(async () => {
  t = await startTestStack({
    fixtures: 'rest-basic.sql',
    sql: `create function public.sleepy(seconds double precision) returns int language sql stable as $$ select 1 from pg_sleep(seconds) $$;
      create function public.current_timeout() returns text language sql stable as $$ select current_setting('statement_timeout') $$;`,
    env: { GRAPHQL_STATEMENT_TIMEOUT: String(STATEMENT_TIMEOUT_MS) },
  });
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

describe('graphql limits', () => {
  /** `{ clients { nodes { projects { nodes { client { projects … } } } } } }`, `levels` relations deep. */
  const deep = (levels: number) => {
    let inner = 'name';
    for (let i = levels - 1; i >= 0; i--) inner = i % 2 === 0 ? `client { ${inner} }` : `projects { nodes { ${inner} } }`;
    return `{ projects { nodes { ${inner} } } }`;
  };

  it('refuses operations deeper than GRAPHQL_MAX_DEPTH (default 16), also through fragments', async () => {
    expect((await gql(deep(8))).errors).toBeUndefined(); // depth 15
    const r = await gql(deep(10)); // depth 18
    expect(r.status).toBe(200); // application/json: GraphQL-over-HTTP's legacy 200
    expect(r.data).toBeUndefined();
    expect(r.errors[0].message).toBe('The operation has depth 18, over the maximum of 16');
    expect(r.errors[0].extensions).toMatchObject({ code: 'GRAPHQL_DEPTH_LIMIT', depth: 18, maxDepth: 16 });
    const strict = await gql(deep(10), {}, undefined, '/graphql/v1', 'application/graphql-response+json');
    expect(strict.status).toBe(400);
    expect(strict.errors[0].extensions.code).toBe('GRAPHQL_DEPTH_LIMIT');
    const viaFragments = await gql(`query Deep { ...P } fragment P on Query { projects { nodes { client { ...C } } } }
      fragment C on Client { projects { nodes { client { ...C2 } } } } fragment C2 on Client { projects { nodes { client { ...C3 } } } }
      fragment C3 on Client { projects { nodes { client { ...C4 } } } } fragment C4 on Client { projects { nodes { client { projects { nodes { name } } } } } }`);
    expect(viaFragments.errors[0].message).toBe('Operation "Deep" has depth 18, over the maximum of 16');
  });

  it('lets the standard introspection query through', async () => {
    const r = await gql(getIntrospectionQuery());
    expect(r.errors).toBeUndefined();
    expect(r.data.__schema.queryType.name).toBe('Query');
  });

  it('refuses operations costlier than GRAPHQL_MAX_COST (fields weighted by first/last)', async () => {
    expect((await gql(`{ todos(first: 1000) { nodes { id title done owner tenantId } } }`)).errors).toBeUndefined(); // 6001
    const r = await gql(`{ todos(first: 10000) { nodes { id title done owner tenantId } } }`); // 60001
    expect(r.errors[0]).toMatchObject({ message: 'The operation has cost 60001, over the maximum of 25000', extensions: { code: 'GRAPHQL_COST_LIMIT' } });
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: projects(first: 1000) { nodes { id } }`).join(' ');
    expect((await gql(`{ ${aliases} }`)).errors[0].extensions.code).toBe('GRAPHQL_COST_LIMIT'); // 30 × 2001
  });

  it('refuses bodies over GRAPHQL_MAX_BODY_BYTES with 413, with or without Content-Length', async () => {
    const big = JSON.stringify({ query: `{ clients { totalCount } }`, variables: { pad: 'x'.repeat(1_000_001) } });
    const res = await fetch(`${stack.url}/graphql/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: db.config.anonKey },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await body(res)).toEqual({ errors: [{ message: 'Request body exceeds the limit of 1000000 bytes', extensions: { code: 'REQUEST_TOO_LARGE' } }] });
    const chunked = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await body(chunked)).errors[0]).toMatchObject({ message: 'Request body exceeds the limit of 1000000 bytes', extensions: { code: 'REQUEST_TOO_LARGE' } });
  });

  it('cancels statements over GRAPHQL_STATEMENT_TIMEOUT (roles without their own timeout) with a clear error', async () => {
    // service_role has no statement_timeout of its own: GRAPHQL_STATEMENT_TIMEOUT bounds it.
    expect((await gql(`{ sleepy(seconds: 0.01) }`, {}, db.config.serviceRoleKey)).data.sleepy).toBe(1);
    const r = await gql(`{ sleepy(seconds: 5) }`, {}, db.config.serviceRoleKey);
    expect(r.errors[0]).toMatchObject({
      message: `The operation exceeded the statement timeout (the role's statement_timeout, else ${STATEMENT_TIMEOUT_MS} ms)`,
      extensions: { code: 'STATEMENT_TIMEOUT' },
      path: ['sleepy'],
    });
  });

  it("applies the caller role's own settings (ALTER ROLE … SET) as REST does", async () => {
    // sql/0001_roles.sql: anon 3s, authenticated 8s; service_role none, so GRAPHQL_STATEMENT_TIMEOUT.
    expect((await gql(`{ currentTimeout }`)).data).toEqual({ currentTimeout: '3s' });
    expect((await gql(`{ currentTimeout }`, {}, await token(TENANT_A))).data).toEqual({ currentTimeout: '8s' });
    expect((await gql(`{ currentTimeout }`, {}, db.config.serviceRoleKey)).data).toEqual({ currentTimeout: `${STATEMENT_TIMEOUT_MS}ms` });
    // Without Authorization the apikey is the caller (as at the edge, and over graphql-ws).
    const keyOnly = await fetch(`${stack.url}/graphql/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: db.config.serviceRoleKey },
      body: JSON.stringify({ query: '{ currentTimeout }' }),
    });
    expect((await body(keyOnly)).data).toEqual({ currentTimeout: `${STATEMENT_TIMEOUT_MS}ms` });
    // A changed setting applies once the settings are reloaded (REST reloads them on NOTIFY pgrst).
    // (In this database only: roles are shared by every test database of the cluster.)
    await db.admin.query(`alter role anon in database "${db.name}" set statement_timeout = '2500ms'`);
    try {
      await db.admin.query(`notify pgrst, 'reload schema'`);
      const end = Date.now() + 5000;
      let seen: unknown;
      while (Date.now() < end && (seen = (await gql(`{ currentTimeout }`)).data?.currentTimeout) !== '2500ms') await new Promise((r) => setTimeout(r, 50));
      expect(seen).toBe('2500ms');
    } finally {
      await db.admin.query(`alter role anon in database "${db.name}" reset statement_timeout`);
      await db.admin.query(`notify pgrst, 'reload schema'`);
    }
  });

  it('reports database errors with their SQLSTATE and invalid tokens with INVALID_JWT (401)', async () => {
    const r = await gql(`mutation { createTodo(input: { todo: { title: "x", tenantId: "${TENANT_B}" } }) { todo { id } } }`, {}, await token(TENANT_A));
    expect(r.errors[0]).toMatchObject({ message: expect.stringMatching(/row-level security/), extensions: { code: 'DATABASE_ERROR', sqlState: '42501' } });
    const bad = await gql(`{ clients { totalCount } }`, {}, 'not.a.jwt', '/graphql'); // (/graphql/v1: the edge refuses it first)
    expect(bad.status).toBe(401);
    expect(bad.errors[0].extensions.code).toBe('INVALID_JWT');
  });
});
