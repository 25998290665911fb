/**
 * The admin dashboard's request logs (admin/routes/logs.ts) over a running embedded stack:
 * requests made through the gateway appear with their fields (method, redacted path, status,
 * service, role, tenant, address, request id), filters and paging work, a token, an apikey or a
 * one-time code is never stored, read_only admins read, tenants are kept apart by the filter and
 * no API role can read the table.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { testToken } from '../test/helpers/db.ts';
import { AdminClient } from '../test/helpers/admin-client.ts';

let t: TestStack;
let owner: AdminClient;
let reader: AdminClient;
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const MARK = `m${randomUUID().slice(0, 8)}`;
// What the requests' stored paths contain and the admin's own requests for them do not (there `=` is `%3D`).
const HIT = `${MARK}=`;
const SECRET_CODE = `code-${randomUUID()}`;
let tokenA: string;
let started: Date;

interface Entry {
  id: string;
  at: string;
  request_id: string;
  method: string;
  path: string;
  service: string | null;
  route: string;
  status: number;
  duration_ms: number;
  role: string | null;
  tenant_id: string | null;
  ip: string | null;
}

const logs = async (c: AdminClient, query: Record<string, string>) => {
  const r = await c.call('GET', `/admin/api/logs/requests?${new URLSearchParams(query)}`);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json as { entries: Entry[]; next: string | null; kept: boolean };
};

beforeAll(async () => {
  t = await startTestStack({ sql: `create table public.notes (id serial primary key, title text); grant select, insert on public.notes to anon, authenticated; grant usage on sequence public.notes_id_seq to anon, authenticated;` });
  await t.db.admin.query(`insert into public.tenants (id, name) values ($1, 'A'), ($2, 'B')`, [TENANT_A, TENANT_B]);
  owner = new AdminClient(t.stack.url);
  expect((await owner.call('POST', '/admin/api/setup', { email: 'owner@example.com', password: 'owner-password-1' })).status).toBe(200);
  expect((await owner.login('owner@example.com', 'owner-password-1')).status).toBe(200);
  expect((await owner.call('POST', '/admin/api/admins', { email: 'reader@example.com', password: 'reader-password-1', role: 'read_only' })).status).toBe(200);
  reader = new AdminClient(t.stack.url);
  expect((await reader.login('reader@example.com', 'reader-password-1')).status).toBe(200);
  tokenA = await testToken({ role: 'authenticated', sub: randomUUID(), tenant_id: TENANT_A });
  started = new Date(Date.now() - 1000);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('request logs', () => {
  const ids = { anon: `anon-${MARK}`, tenant: `tenant-${MARK}`, verify: `verify-${MARK}` };
  const statuses: Record<string, number> = {};

  it('keeps requests made through the stack, written off the request path', async () => {
    const { anonKey } = t.db.config;
    // The apikey in the query string, as realtime and signed URLs do.
    const anon = await fetch(`${t.stack.url}/rest/v1/notes?select=title&${MARK}=1&apikey=${anonKey}`, { headers: { 'x-request-id': ids.anon } });
    statuses.anon = anon.status;
    const tenant = await fetch(`${t.stack.url}/rest/v1/notes?${MARK}=2`, {
      method: 'POST',
      headers: { 'x-request-id': ids.tenant, apikey: anonKey, authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'hello' }),
    });
    statuses.tenant = tenant.status;
    const verify = await fetch(`${t.stack.url}/auth/v1/verify?type=signup&token=${SECRET_CODE}&${MARK}=3`, { headers: { 'x-request-id': ids.verify, apikey: anonKey }, redirect: 'manual' });
    statuses.verify = verify.status;
    // Written within about a second, off the request path.
    await expect.poll(async () => (await logs(owner, { path: HIT })).entries.length, { timeout: 15_000 }).toBe(3);
  }, 30_000);

  it('lists requests made through the stack, newest first, with their fields', async () => {
    const { entries, kept } = await logs(owner, { path: HIT });
    expect(kept).toBe(true);
    expect(entries.map((e) => e.request_id)).toEqual([ids.verify, ids.tenant, ids.anon]);
    const [verify, tenant, anon] = entries;
    expect(anon).toMatchObject({ method: 'GET', service: 'rest', route: 'rest', status: statuses.anon, role: 'anon', tenant_id: null, ip: '127.0.0.1' });
    expect(tenant).toMatchObject({ method: 'POST', path: `/rest/v1/notes?${MARK}=2`, service: 'rest', status: statuses.tenant, role: 'authenticated', tenant_id: TENANT_A });
    expect(verify).toMatchObject({ method: 'GET', service: 'auth', status: statuses.verify });
    for (const e of entries) {
      expect(e.duration_ms).toBeGreaterThanOrEqual(0);
      expect(new Date(e.at).getTime()).toBeGreaterThanOrEqual(started.getTime());
    }
    // Secrets in the query string are redacted as in the stderr line (gateway/request-log.ts).
    expect(anon.path).toBe(`/rest/v1/notes?select=title&${MARK}=1&apikey=[redacted]`);
    expect(verify.path).toBe(`/auth/v1/verify?type=signup&token=[redacted]&${MARK}=3`);
  });

  it('never stores a token, an apikey or a one-time code', async () => {
    await owner.call('GET', '/admin/api/logs/requests'); // the admin's own requests are logged too
    const { rows } = await t.db.admin.query(`select string_agg(r::text, e'\\n') as dump from nextmavens.request_log r`);
    const dump: string = rows[0].dump;
    expect(dump).toContain(MARK);
    for (const secret of [t.db.config.anonKey, t.db.config.serviceRoleKey, tokenA, SECRET_CODE, 'owner-password-1']) expect(dump).not.toContain(secret);
    expect(dump).not.toContain('nm_admin=');
  });

  it('filters by service, status class, method, role, tenant and time, and pages by id', async () => {
    const only = async (q: Record<string, string>) => (await logs(owner, { path: HIT, ...q })).entries.map((e) => e.request_id);
    expect(await only({ service: 'auth' })).toEqual([ids.verify]);
    expect(await only({ service: 'rest' })).toEqual([ids.tenant, ids.anon]);
    expect(await only({ method: 'post' })).toEqual([ids.tenant]);
    expect(await only({ role: 'anon' })).toEqual([ids.verify, ids.anon]);
    expect(await only({ tenant: TENANT_A })).toEqual([ids.tenant]);
    // Tenant B made no request: none of A's show under it.
    expect(await only({ tenant: TENANT_B })).toEqual([]);
    const cls = `${String(statuses.tenant)[0]}xx`;
    expect(await only({ status: cls })).toContain(ids.tenant);
    expect(await only({ status: cls === '2xx' ? '5xx' : '2xx' })).not.toContain(ids.tenant);
    expect(await only({ to: started.toISOString() })).toEqual([]);
    expect(await only({ from: started.toISOString(), to: new Date(Date.now() + 60_000).toISOString() })).toHaveLength(3);
    expect(await only({ path: 'no-such-path-here' })).toEqual([]);

    const first = await logs(owner, { path: HIT, limit: '2' });
    expect(first.entries.map((e) => e.request_id)).toEqual([ids.verify, ids.tenant]);
    expect(first.next).toBe(first.entries[1].id);
    const second = await logs(owner, { path: HIT, limit: '2', before: first.next! });
    expect(second.entries.map((e) => e.request_id)).toEqual([ids.anon]);
    expect(second.next).toBeNull();
  });

  it('lets a read_only admin read, and nobody without a session', async () => {
    expect((await logs(reader, { path: HIT })).entries).toHaveLength(3);
    const anonymous = await new AdminClient(t.stack.url).call('GET', '/admin/api/logs/requests');
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(anonymous.json)).not.toContain(MARK);
  });

  it('refuses bad filters with a 400 naming them', async () => {
    for (const [q, word] of [[{ status: '6xx' }, 'status'], [{ from: 'yesterday-ish' }, 'from'], [{ before: '1; drop' }, 'before'], [{ limit: '0' }, 'limit'], [{ method: 'G E' }, 'method']] as const) {
      const r = await owner.call('GET', `/admin/api/logs/requests?${new URLSearchParams(q)}`);
      expect(r.status).toBe(400);
      expect(r.json.code).toBe('validation_failed');
      expect(r.json.message).toContain(word);
    }
  });

  it('is out of reach of every API role', async () => {
    for (const role of ['anon', 'authenticated', 'service_role']) {
      const c = await t.db.admin.connect();
      try {
        await c.query('begin');
        await c.query(`set local role ${role}`);
        await expect(c.query('select count(*) from nextmavens.request_log')).rejects.toThrow(/permission denied/);
      } finally {
        await c.query('rollback');
        c.release();
      }
    }
  });
});
