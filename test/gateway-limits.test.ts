/**
 * The edge's limits on the whole embedded stack, through the official clients: two tenants, one
 * flooding; its 429s as supabase-js (postgrest-js, auth-js, storage-js) and a GraphQL client see
 * them; the other tenant unaffected. The allowlist refusing service_role and the auth admin API;
 * the body limit in front of the real REST service.
 */
import http from 'node:http';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testToken } from './helpers/db.ts';
import { startTestStack, type TestStack } from './helpers/stack.ts';

const LIMIT = 25;
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

describe('gateway limits on the embedded stack', () => {
  let t: TestStack;
  let a: SupabaseClient;
  let b: SupabaseClient;
  let tokenA: string;
  let tokenB: string;

  beforeAll(async () => {
    t = await startTestStack({
      env: {
        RATE_LIMIT_REST: String(LIMIT),
        RATE_LIMIT_AUTH: String(LIMIT),
        RATE_LIMIT_STORAGE: String(LIMIT),
        RATE_LIMIT_GRAPHQL: String(LIMIT),
        MAX_BODY_BYTES: '2048',
        ADMIN_IP_ALLOWLIST: '192.0.2.1',
      },
      sql: `
        create table public.notes (id int primary key, body text);
        alter table public.notes enable row level security;
        create policy everyone on public.notes for all using (true) with check (true);
        grant select, insert on public.notes to authenticated;
        insert into public.notes values (1, 'one');
      `,
    });
    tokenA = await testToken({ role: 'authenticated', sub: '00000000-0000-4000-8000-00000000000a', tenant_id: 'tenant-a' });
    tokenB = await testToken({ role: 'authenticated', sub: '00000000-0000-4000-8000-00000000000b', tenant_id: 'tenant-b' });
    const client = (token: string) => createClient(t.stack.url, t.db.config.anonKey, { ...opts, accessToken: async () => token });
    a = client(tokenA);
    b = client(tokenB);
  });
  afterAll(() => t?.close());

  it("REST: tenant A over its limit gets PostgREST-shaped 429s; tenant B's reads all succeed", async () => {
    const results = [];
    for (let i = 0; i < LIMIT + 5; i++) results.push(await a.from('notes').select('id'));
    expect(results.slice(0, LIMIT).map((r) => r.status)).toEqual(Array(LIMIT).fill(200));
    for (const r of results.slice(LIMIT)) {
      expect(r.status).toBe(429);
      expect(r.error).toMatchObject({ code: 'over_request_rate_limit', details: null, hint: null, message: expect.stringMatching(/per minute/) });
    }
    for (let i = 0; i < 10; i++) expect((await b.from('notes').select('id')).status).toBe(200);
  });

  it("auth, storage and GraphQL: 429 in each service's shape for A, B goes on", async () => {
    // auth-js: getUser(jwt) sends the user's token (a client with `accessToken` has no auth).
    const auth = createClient(t.stack.url, t.db.config.anonKey, opts).auth;
    let authError: unknown;
    for (let i = 0; i <= LIMIT; i++) authError = (await auth.getUser(tokenA)).error;
    expect(authError).toMatchObject({ status: 429, code: 'over_request_rate_limit' });
    expect((await auth.getUser(tokenB)).error?.status).not.toBe(429);

    let storageError: unknown;
    for (let i = 0; i <= LIMIT; i++) storageError = (await a.storage.listBuckets()).error;
    expect(storageError).toMatchObject({ status: 429, statusCode: '429', message: expect.stringMatching(/per minute/) });
    expect((await b.storage.listBuckets()).error).toBeNull();

    const gql = (token: string) =>
      fetch(`${t.stack.url}/graphql/v1`, {
        method: 'POST',
        headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
    let last: Response | undefined;
    for (let i = 0; i <= LIMIT; i++) {
      last = await gql(tokenA);
      if (i < LIMIT) await last.arrayBuffer();
    }
    expect(last!.status).toBe(429);
    expect(last!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await last!.json()).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'RATE_LIMITED' } }] });
    const fromB = await gql(tokenB);
    expect(fromB.status).toBe(200);
    expect(await fromB.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('refuses the service_role key and the auth admin API from an address outside ADMIN_IP_ALLOWLIST', async () => {
    const admin = createClient(t.stack.url, t.db.config.serviceRoleKey, opts);
    const rest = await admin.from('notes').select('id');
    expect(rest.status).toBe(403);
    expect(rest.error).toMatchObject({ code: 'address_not_allowed' });
    const users = await admin.auth.admin.listUsers();
    expect(users.error).toMatchObject({ status: 403, code: 'address_not_allowed' });
    const metrics = await fetch(`${t.stack.url}/metrics`, { headers: { authorization: `Bearer ${t.db.config.serviceRoleKey}` } });
    expect(metrics.status).toBe(403);
  });

  it('cuts a chunked body over MAX_BODY_BYTES in front of the real REST service, which stores nothing', async () => {
    const tokenC = await testToken({ role: 'authenticated', sub: '00000000-0000-4000-8000-00000000000c', tenant_id: 'tenant-c' });
    const row = JSON.stringify({ id: 2, body: 'x'.repeat(4000) });
    const status = await new Promise<number>((resolve) => {
      const req = http.request(`${t.stack.url}/rest/v1/notes`, {
        method: 'POST',
        headers: { apikey: t.db.config.anonKey, authorization: `Bearer ${tokenC}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
      let i = 0;
      const next = (): void => {
        if (i >= row.length) return void req.end();
        const chunk = row.slice(i, i + 500);
        i += 500;
        req.write(chunk, () => setTimeout(next, 5));
      };
      next();
    });
    expect([413, 0]).toContain(status);
    const { rows } = await t.db.admin.query('select count(*)::int as n from public.notes where id = 2');
    expect(rows[0].n).toBe(0);
    // The server goes on serving.
    const c = createClient(t.stack.url, t.db.config.anonKey, { ...opts, accessToken: async () => tokenC });
    expect((await c.from('notes').select('id')).status).toBe(200);
  });
});
