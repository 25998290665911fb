/**
 * rest/raw-reply.ts: a request the embedded REST service answers without Fastify gets the answer
 * Fastify's path gives — status, headers and body — for reads and for writes with a body of
 * every kind (JSON, CSV, none, no Content-Type, a malformed one, bad JSON, on every method).
 * The same requests go to two services over one database: mounted in the gateway (the direct
 * path) and standalone (Fastify).
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
let direct: Service;
let fastify: Service;
let token: string;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.admin.query(`
    insert into public.tenants (id, name) values ('00000000-0000-4000-8000-00000000000a', 'a');
    create table public.memos (id int primary key, tenant_id uuid not null default auth.tenant_id() references public.tenants (id), body text not null);
    select public.enable_tenant_isolation('public.memos');
    grant select, insert, update, delete on public.memos to authenticated;
    insert into public.memos (id, tenant_id, body) values (1, '00000000-0000-4000-8000-00000000000a', 'one');
    create function public.echo(t text) returns text language sql as $$ select t $$;
    grant execute on function public.echo(text) to authenticated;`);
  pools = createPools(db.config.postgres, 'raw-reply-test');
  const log = pino({ level: 'silent' });
  direct = await createRestService({ config: db.config, pools, log, embedded: true });
  fastify = await createRestService({ config: db.config, pools, log, embedded: false });
  token = await testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: '00000000-0000-4000-8000-00000000000a' });
});

afterAll(async () => {
  await direct?.close();
  await fastify?.close();
  await pools?.end();
  await db?.drop();
});

type Call = { method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'OPTIONS'; url: string; headers?: Record<string, string>; payload?: string };

async function answer(service: Service, c: Call) {
  const res = await inject((req, r) => service.handle(req, r), { method: c.method, url: c.url, headers: { authorization: `Bearer ${token}`, ...c.headers }, ...(c.payload !== undefined && { payload: c.payload }) });
  const headers = { ...res.headers };
  delete headers.date;
  return { status: res.statusCode, headers, body: res.payload };
}

const JSON_CT = { 'content-type': 'application/json' };
const ROLLBACK = { prefer: 'tx=rollback, return=representation' };

describe('the direct path answers as Fastify does', () => {
  const calls: Call[] = [
    { method: 'GET', url: '/memos?id=eq.1' },
    { method: 'HEAD', url: '/memos?id=eq.1' },
    { method: 'GET', url: '/memos?id=eq.1', headers: JSON_CT, payload: '{"ignored":true}' },
    { method: 'POST', url: '/memos', headers: { ...JSON_CT, ...ROLLBACK }, payload: '{"id":2,"body":"two"}' },
    { method: 'POST', url: '/memos', headers: { ...JSON_CT, ...ROLLBACK }, payload: '[{"id":3,"body":"a"},{"id":4,"body":"b"}]' },
    { method: 'POST', url: '/memos', headers: { 'content-type': 'text/csv', ...ROLLBACK }, payload: 'id,body\n5,csv' },
    { method: 'POST', url: '/memos', headers: ROLLBACK, payload: '{"id":6,"body":"no content type"}' },
    { method: 'POST', url: '/memos', headers: { 'content-type': ';;;', ...ROLLBACK }, payload: '{"id":7,"body":"x"}' },
    { method: 'POST', url: '/memos', headers: { 'content-type': 'text/plain' }, payload: 'hello' },
    { method: 'POST', url: '/memos', headers: JSON_CT, payload: '{"id":' },
    { method: 'POST', url: '/memos', headers: JSON_CT, payload: '{"id":1,"body":"duplicate"}' },
    { method: 'POST', url: '/memos', headers: JSON_CT, payload: '{"nope":1}' },
    { method: 'PATCH', url: '/memos?id=eq.1', headers: { ...JSON_CT, ...ROLLBACK }, payload: '{"body":"patched"}' },
    { method: 'PATCH', url: '/memos?id=eq.1', headers: { 'content-type': 'application/json; charset=latin1' }, payload: '{"body":"x"}' },
    { method: 'PUT', url: '/memos?id=eq.1', headers: { ...JSON_CT, ...ROLLBACK }, payload: '{"id":1,"body":"put"}' },
    { method: 'DELETE', url: '/memos?id=eq.1', headers: { ...JSON_CT, ...ROLLBACK }, payload: '{}' },
    { method: 'DELETE', url: '/memos?id=eq.1', headers: ROLLBACK, payload: 'body without a type' },
    { method: 'OPTIONS', url: '/memos', headers: JSON_CT, payload: '{}' },
    { method: 'POST', url: '/rpc/echo', headers: JSON_CT, payload: '{"t":"hi"}' },
    { method: 'POST', url: '/rpc/echo', headers: { 'content-type': 'text/plain' }, payload: 'raw' },
    { method: 'POST', url: '/rpc/nope', headers: JSON_CT, payload: '{}' },
    { method: 'POST', url: '/%zz', headers: JSON_CT, payload: '{}' },
  ];
  for (const c of calls) {
    it(`${c.method} ${c.url} ${c.headers?.['content-type'] ?? '(no type)'} ${c.payload ?? ''}`, async () => {
      const viaFastify = await answer(fastify, c);
      const viaDirect = await answer(direct, c);
      expect(viaDirect).toEqual(viaFastify);
    });
  }

  it('a body over the limit still gets Fastify 413, and nothing was written', async () => {
    const big = JSON.stringify({ id: 9, body: 'x'.repeat(db.config.maxBodyBytes) });
    const res = await answer(direct, { method: 'POST', url: '/memos', headers: JSON_CT, payload: big });
    expect(res.status).toBe(413);
    const { rows } = await db.admin.query('select count(*)::int as n from public.memos where id = 9');
    expect(rows[0].n).toBe(0);
  });
});
