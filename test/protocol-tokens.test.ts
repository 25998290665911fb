/**
 * Tokens that arrive inside a protocol, where the edge never sees them — a realtime join's or
 * refresh's `access_token`, graphql-ws's connection_init payload — are held to the edge's rules
 * (core/protocol-admission.ts): service_role only from ADMIN_IP_ALLOWLIST, a foreign
 * super-admin's use written to the audit chain first, fail closed. The test client is 127.0.0.1,
 * which the allowlist here does not list.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createProtocolAdmission } from '../core/protocol-admission.ts';
import { testToken } from './helpers/db.ts';
import { startTestStack, type TestStack } from './helpers/stack.ts';

const TENANT = '3c1e9a52-7d4b-4f0e-8a61-2b9c0d7e5f13';
const ROOT = '9f2d4b6a-1c3e-4a5f-8b7d-0e1f2a3b4c5d';
let t: TestStack;

beforeAll(async () => {
  t = await startTestStack({ env: { ADMIN_IP_ALLOWLIST: '10.1.0.0/16' } });
});
afterAll(async () => {
  await t?.close();
});

const wsBase = () => t.stack.url.replace(/^http/, 'ws');
const user = () => testToken({ role: 'authenticated', sub: '5e0c8f7a-1b2d-4c3e-8f9a-0b1c2d3e4f5a', tenant_id: TENANT });
const superAdmin = () => testToken({ role: 'authenticated', sub: ROOT, tenant_id: TENANT, tenant_role: 'super_admin', is_super_admin: true });

/** A realtime socket (Phoenix vsn 1.0.0) with the anon key; `next` waits for a frame matching. */
async function realtime() {
  const ws = new WebSocket(`${wsBase()}/realtime/v1/websocket?apikey=${t.db.config.anonKey}&vsn=1.0.0`);
  const frames: any[] = [];
  const waiters: { match: (f: any) => boolean; resolve: (f: any) => void }[] = [];
  ws.on('message', (data) => {
    const f = JSON.parse(String(data));
    frames.push(f);
    for (const w of [...waiters]) if (w.match(f)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(f));
  });
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  let ref = 0;
  return {
    ws,
    send(topic: string, event: string, payload: unknown): string {
      const r = String(++ref);
      ws.send(JSON.stringify({ topic, event, payload, ref: r, join_ref: event === 'phx_join' ? r : undefined }));
      return r;
    },
    next(match: (f: any) => boolean, ms = 5000): Promise<any> {
      const seen = frames.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        setTimeout(() => reject(new Error(`no matching frame; got ${JSON.stringify(frames)}`)), ms);
      });
    },
  };
}

const replyTo = (r: string) => (f: any) => f.event === 'phx_reply' && f.ref === r;

/** graphql-ws over a raw socket: 'ack' or the close code and reason after connection_init. */
function graphqlInit(payload: Record<string, unknown>): Promise<string> {
  const ws = new WebSocket(`${wsBase()}/graphql/v1?apikey=${t.db.config.anonKey}`, 'graphql-transport-ws');
  return new Promise((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload })));
    ws.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') (resolve('ack'), ws.close());
    });
    ws.once('close', (code, reason) => resolve(`${code} ${reason}`));
    ws.once('error', reject);
  });
}

describe('realtime: tokens in joins and refreshes', () => {
  it('refuses a join whose access_token is service_role from an address not in ADMIN_IP_ALLOWLIST; a user token joins', async () => {
    const rt = await realtime();
    try {
      const refused = await rt.next(replyTo(rt.send('realtime:svc-room', 'phx_join', { config: {}, access_token: t.db.config.serviceRoleKey })));
      expect(refused.payload).toEqual({ status: 'error', response: { reason: 'AddressNotAllowed: This operation is not allowed from your address' } });
      const joined = await rt.next(replyTo(rt.send('realtime:user-room', 'phx_join', { config: {}, access_token: await user() })));
      expect(joined.payload.status).toBe('ok');
    } finally {
      rt.ws.close();
    }
  });

  it('closes a channel whose token is refreshed to service_role from such an address', async () => {
    const rt = await realtime();
    try {
      expect((await rt.next(replyTo(rt.send('realtime:refresh-room', 'phx_join', { config: {}, access_token: await user() })))).payload.status).toBe('ok');
      rt.send('realtime:refresh-room', 'access_token', { access_token: t.db.config.serviceRoleKey });
      const closed = await rt.next((f) => f.topic === 'realtime:refresh-room' && f.event === 'phx_close');
      expect(closed).toBeTruthy();
      const error = await rt.next((f) => f.topic === 'realtime:refresh-room' && f.event === 'system');
      expect(error.payload).toMatchObject({ status: 'error', message: 'This operation is not allowed from your address' });
    } finally {
      rt.ws.close();
    }
  });

  it('writes a foreign super-admin\'s join to the audit chain before it is served', async () => {
    const rt = await realtime();
    try {
      expect((await rt.next(replyTo(rt.send('realtime:ops-room', 'phx_join', { config: {}, access_token: await superAdmin() })))).payload.status).toBe('ok');
    } finally {
      rt.ws.close();
    }
    const { rows } = await t.db.admin.query(`select target, tenant_id, actor_id, actor_role, ip from audit.entries where action = 'super_admin.request' and target like 'phx_join %'`);
    expect(rows).toEqual([{ target: 'phx_join realtime:ops-room', tenant_id: TENANT, actor_id: ROOT, actor_role: 'super_admin', ip: '127.0.0.1' }]);
  });
});

describe('graphql-ws: the connection_init token', () => {
  it('closes the socket (4403) for service_role, as Bearer or apikey, from an address not in ADMIN_IP_ALLOWLIST; a user token is acknowledged', async () => {
    const forbidden = '4403 This operation is not allowed from your address';
    expect(await graphqlInit({ Authorization: `Bearer ${t.db.config.serviceRoleKey}` })).toBe(forbidden);
    expect(await graphqlInit({ apikey: t.db.config.serviceRoleKey })).toBe(forbidden);
    expect(await graphqlInit({ Authorization: `Bearer ${await user()}` })).toBe('ack');
  });

  it('audits a foreign super-admin\'s connection before acknowledging it', async () => {
    expect(await graphqlInit({ Authorization: `Bearer ${await superAdmin()}` })).toBe('ack');
    const { rows } = await t.db.admin.query(`select target, actor_id from audit.entries where action = 'super_admin.request' and target like 'connection_init %'`);
    expect(rows).toEqual([{ target: 'connection_init /graphql', actor_id: ROOT }]);
  });
});

describe('createProtocolAdmission', () => {
  const log = pino({ level: 'silent' });
  const down = { query: () => Promise.reject(new Error('down')) } as never;
  const use = (address: string) => ({ address, method: 'phx_join', path: 'realtime:x', route: 'realtime-join' });

  it('lets service_role in only from the allowlist, anyone else from anywhere; refuses a super-admin it cannot audit', async () => {
    const admission = createProtocolAdmission({ trustProxy: false, adminIpAllowlist: ['10.1.0.0/16'] }, down, log);
    expect(await admission.admit({ role: 'service_role' }, use('10.1.2.3'))).toBeUndefined();
    expect(await admission.admit({ role: 'service_role' }, use('127.0.0.1'))).toBe('address_not_allowed');
    expect(await admission.admit({ role: 'service_role' }, use(''))).toBe('address_not_allowed');
    expect(await admission.admit({ role: 'authenticated', sub: ROOT, tenant_id: TENANT }, use('127.0.0.1'))).toBeUndefined();
    expect(await admission.admit({ role: 'authenticated', sub: ROOT, tenant_id: TENANT, tenant_role: 'super_admin' }, use('10.1.2.3'))).toBe('not_audited');
    const open = createProtocolAdmission({ trustProxy: false, adminIpAllowlist: [] }, down, log);
    expect(await open.admit({ role: 'service_role' }, use('127.0.0.1'))).toBeUndefined();
  });
});
