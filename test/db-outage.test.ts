/**
 * While Postgres is unreachable every service answers 503 in its own error shape, and no body
 * names an internal host, port or path; once it is back, requests succeed again without a
 * restart. The database is taken away by cutting a TCP proxy in front of it (test/helpers/db-outage.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from './helpers/db.ts';
import { startStackBehindProxy, type DbProxy, type StackBehindProxy } from './helpers/db-outage.ts';

let db: TestDatabase;
let proxy: DbProxy;
let stack: RunningStack;

let running: StackBehindProxy;

beforeAll(async () => {
  running = await startStackBehindProxy({ fixtures: 'rest-basic.sql' });
  ({ db, proxy, stack } = running);
});

afterAll(async () => {
  await running?.close();
});

/** Internals a body must never name: hosts, ports, paths, driver messages. */
const LEAKS = /127\.0\.0\.1|localhost|::1|ECONNREFUSED|:\d{4,5}\b|\/tmp\/|\/work\/|node_modules|\.ts\b/;

async function call(path: string, init: RequestInit & { key?: 'anon' | 'service' } = {}) {
  const key = init.key === 'service' ? db.config.serviceRoleKey : db.config.anonKey;
  const res = await fetch(`${stack.url}${path}`, { ...init, headers: { apikey: key, authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  return { status: res.status, text: await res.text() };
}

const requests: [string, () => ReturnType<typeof call>][] = [
  ['REST', () => call('/rest/v1/clients?select=id')],
  ['auth', () => call('/auth/v1/token?grant_type=password', { method: 'POST', body: JSON.stringify({ email: 'ann@example.com', password: 'secret-password' }) })],
  ['auth admin', () => call('/auth/v1/admin/users', { key: 'service' })],
  ['storage', () => call('/storage/v1/bucket', { key: 'service' })],
  ['GraphQL', () => call('/graphql/v1', { method: 'POST', body: JSON.stringify({ query: '{ clients { totalCount } }' }) })],
  ['realtime private broadcast', () => call('/realtime/v1/api/broadcast/room/events/e?private=true', { method: 'POST', body: '{}' })],
];

describe('a database outage', () => {
  it('every service answers 503 without internals, and recovers when the database is back', async () => {
    expect((await call('/rest/v1/clients?select=id')).status).toBe(200);
    await proxy.cut();
    try {
      const answers = [];
      for (const [name, request] of requests) {
        const { status, text } = await request();
        answers.push({ name, status, leaks: text.match(LEAKS)?.[0] ?? null, text: text.slice(0, 200) });
      }
      expect(answers.map(({ name, status, leaks }) => ({ name, status, leaks }))).toEqual(requests.map(([name]) => ({ name, status: 503, leaks: null })));
      const health = await fetch(`${stack.url}/health`);
      expect(health.status).toBe(503);
    } finally {
      await proxy.restore();
    }
    // Pools reconnect on their own: the next requests succeed.
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await call('/rest/v1/clients?select=id')).status) !== 200) await new Promise((r) => setTimeout(r, 200));
    expect(status).toBe(200);
    expect((await call('/graphql/v1', { method: 'POST', body: JSON.stringify({ query: '{ clients { totalCount } }' }) })).status).toBe(200);
  }, 90_000);

  it('every connection terminated by Postgres (live GraphQL subscription, realtime, pools) takes nothing down', async () => {
    await db.admin.query(`create table if not exists public.pings (id int primary key); grant select on public.pings to anon; select graphql.enable_subscriptions('public.pings'); alter publication nextmavens_realtime add table public.pings`);
    const ws = new WebSocket(`${stack.url.replace('http', 'ws')}/graphql/v1?apikey=${db.config.anonKey}`, 'graphql-transport-ws');
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription { pingChanged { event id } }' } }));
    await new Promise((r) => setTimeout(r, 500));
    await db.admin.query('insert into public.pings values (1)');
    // Every backend of the stack's database, ours excepted: the LISTEN connection, pools, the replication stream.
    await db.admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
    await db.admin.query('insert into public.pings values (2)');
    await new Promise((r) => setTimeout(r, 1000));
    ws.close();
    // Still serving (a crash would have ended this test process): requests reconnect.
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await call('/rest/v1/clients?select=id')).status) !== 200) await new Promise((r) => setTimeout(r, 200));
    expect(status).toBe(200);
    expect((await call('/graphql/v1', { method: 'POST', body: JSON.stringify({ query: '{ clients { totalCount } }' }) })).status).toBe(200);
  }, 60_000);
});
