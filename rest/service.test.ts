/**
 * The REST service alone (light-my-request's inject against `service.handle`: no gateway, no
 * stack) over a real database: rows as each caller may see them under RLS — two tenants — and
 * PostgREST's error shapes for a bad token, an unknown table and a bad filter.
 */
import { inject } from 'light-my-request';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../core/service.ts';
import { createPools, type Pools } from '../db/pool.ts';
import { createTestDatabase, testToken, type TestDatabase } from '../test/helpers/db.ts';
import { createRestService } from './service.ts';

let db: TestDatabase;
let pools: Pools;
let rest: Service;
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';

beforeAll(async () => {
  db = await createTestDatabase();
  await db.admin.query(`
    insert into public.tenants (id, name) values ('${TENANT_A}', 'a'), ('${TENANT_B}', 'b');
    create table public.notes (id int primary key, tenant_id uuid not null default auth.tenant_id() references public.tenants (id), body text not null);
    select public.enable_tenant_isolation('public.notes');
    grant select, insert on public.notes to authenticated;
    insert into public.notes values (1, '${TENANT_A}', 'a1'), (2, '${TENANT_A}', 'a2'), (3, '${TENANT_B}', 'b1');`);
  pools = createPools(db.config.postgres, 'rest-inject-test');
  rest = await createRestService({ config: db.config, pools, log: pino({ level: 'silent' }), embedded: true });
});

afterAll(async () => {
  await rest?.close();
  await pools?.end();
  await db?.drop();
});

const call = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET', payload?: unknown) =>
  inject((req, res) => rest.handle(req, res), { method, url, headers, ...(payload !== undefined && { payload: payload as object }) });
const user = (tenant: string) => testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });

describe('REST service through inject', () => {
  it('each tenant reads only its own rows; anon (no tenant) reads none', async () => {
    const a = await call('/notes?select=id,body&order=id', { authorization: `Bearer ${await user(TENANT_A)}` });
    expect(a.statusCode).toBe(200);
    expect(a.json()).toEqual([{ id: 1, body: 'a1' }, { id: 2, body: 'a2' }]);
    const b = await call('/notes?select=id,body', { authorization: `Bearer ${await user(TENANT_B)}` });
    expect(b.json()).toEqual([{ id: 3, body: 'b1' }]);
    const anon = await call('/notes');
    expect(anon.statusCode).toBe(200);
    expect(anon.json()).toEqual([]);
  });

  it("a tenant cannot write a row into another tenant's space", async () => {
    const res = await call('/notes', { authorization: `Bearer ${await user(TENANT_A)}`, 'content-type': 'application/json' }, 'POST', { id: 4, tenant_id: TENANT_B, body: 'x' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: '42501' });
    const { rows } = await db.admin.query('select count(*)::int as n from public.notes where id = 4');
    expect(rows[0].n).toBe(0);
  });

  it("answers in PostgREST's shape: bad token 401 PGRST301, unknown table 404 PGRST205, bad filter 400 PGRST100", async () => {
    const bad = await call('/notes', { authorization: 'Bearer not.a.jwt' });
    expect(bad.statusCode).toBe(401);
    expect(Object.keys(bad.json()).sort()).toEqual(['code', 'details', 'hint', 'message']);
    expect(bad.json().code).toBe('PGRST301');
    const missing = await call('/nopes', { authorization: `Bearer ${await user(TENANT_A)}` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('PGRST205');
    const filter = await call('/notes?id=zz.1', { authorization: `Bearer ${await user(TENANT_A)}` });
    expect(filter.statusCode).toBe(400);
    expect(filter.json().code).toBe('PGRST100');
  });
});
