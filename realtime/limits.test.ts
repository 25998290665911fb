/**
 * Message rates: by default a client flooding broadcasts gets at most 100 messages a second
 * through (Supabase's max_events_per_second); the rest are dropped with a ClientRateLimitReached
 * reply, and heartbeats still pass. REALTIME_MAX_EVENTS_PER_SECOND=0 lifts the per-socket limit;
 * REALTIME_TENANT_MAX_EVENTS_PER_SECOND caps all sockets of one tenant together, and one
 * tenant's flood does not eat another's allowance.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { until } from '../test/helpers/wait.ts';

let t: TestStack;
let tuned: TestStack;

beforeAll(async () => {
  [t, tuned] = await Promise.all([startTestStack(), startTestStack({ env: { REALTIME_MAX_EVENTS_PER_SECOND: '0', REALTIME_TENANT_MAX_EVENTS_PER_SECOND: '50' } })]);
});

afterAll(async () => {
  await Promise.all([t?.close(), tuned?.close()]);
});

async function socket(on: TestStack = t, key = on.db.config.anonKey): Promise<{ ws: WebSocket; messages: Record<string, any>[] }> {
  const ws = new WebSocket(`${on.stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${key}&vsn=1.0.0`);
  const messages: Record<string, any>[] = [];
  ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
  await new Promise((r) => (ws.onopen = r));
  ws.send(JSON.stringify({ topic: 'realtime:flood', event: 'phx_join', payload: { config: { broadcast: { self: false } } }, ref: 'j', join_ref: 'j' }));
  await until(() => messages.some((m) => m.ref === 'j'), 15_000, 'the join reply');
  return { ws, messages };
}

it('a flooding socket gets 100 messages a second through; the rest are refused with ClientRateLimitReached', async () => {
  const sender = await socket();
  const receiver = await socket();
  const N = 250;
  for (let i = 0; i < N; i++) {
    sender.ws.send(JSON.stringify({ topic: 'realtime:flood', event: 'broadcast', payload: { type: 'broadcast', event: 'x', payload: { i } }, ref: `b${i}`, join_ref: 'j' }));
  }
  sender.ws.send(JSON.stringify({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 'hb' }));
  const refusals = () => sender.messages.filter((m) => m.payload?.response?.reason === 'ClientRateLimitReached: Too many messages per second').length;
  await until(() => sender.messages.some((m) => m.ref === 'hb') && refusals() > 0, 15_000, 'refusals and the heartbeat reply');
  const deliveredNow = () => receiver.messages.filter((m) => m.event === 'broadcast').length;
  await until(() => deliveredNow() + refusals() === N, 15_000, 'every message delivered or refused');
  const delivered = deliveredNow();
  // The flood may straddle a second boundary: at most two windows' worth gets through.
  expect(delivered).toBeGreaterThan(0);
  expect(delivered).toBeLessThanOrEqual(200);
  expect(delivered + refusals()).toBe(N);
  sender.ws.close();
  receiver.ws.close();
});

const refused = (messages: Record<string, any>[]) => messages.filter((m) => m.payload?.response?.reason === 'ClientRateLimitReached: Too many messages per second').length;

function flood(sender: { ws: WebSocket }, n: number, tag: string): void {
  for (let i = 0; i < n; i++) {
    sender.ws.send(JSON.stringify({ topic: 'realtime:flood', event: 'broadcast', payload: { type: 'broadcast', event: tag, payload: { i } }, ref: `${tag}${i}`, join_ref: 'j' }));
  }
}

it('REALTIME_MAX_EVENTS_PER_SECOND=0: a server-side publisher sending 200 broadcasts at once loses none', async () => {
  const sender = await socket(tuned);
  const receiver = await socket(tuned);
  flood(sender, 200, 'p');
  await until(() => receiver.messages.filter((m) => m.event === 'broadcast').length === 200, 15_000, 'all 200 broadcasts');
  expect(refused(sender.messages)).toBe(0);
  sender.ws.close();
  receiver.ws.close();
});

it('REALTIME_TENANT_MAX_EVENTS_PER_SECOND caps the sockets of one tenant together, not another tenant', async () => {
  const key = (tenant: string) => testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });
  const [t1a, t1b, t2, receiver] = await Promise.all([
    key('00000000-0000-4000-8000-000000000001').then((k) => socket(tuned, k)),
    key('00000000-0000-4000-8000-000000000001').then((k) => socket(tuned, k)),
    key('00000000-0000-4000-8000-000000000002').then((k) => socket(tuned, k)),
    socket(tuned),
  ]);
  flood(t1a, 60, 'a');
  flood(t1b, 60, 'b');
  flood(t2, 40, 'c');
  const delivered = (tag: string) => receiver.messages.filter((m) => m.event === 'broadcast' && m.payload?.event === tag).length;
  await until(() => delivered('a') + delivered('b') + refused(t1a.messages) + refused(t1b.messages) === 120 && delivered('c') + refused(t2.messages) === 40, 15_000, 'every message delivered or refused');
  // Tenant 1 shares 50 a second: of 120, at most two windows' worth if the flood straddles a second boundary.
  expect(refused(t1a.messages) + refused(t1b.messages)).toBeGreaterThan(0);
  expect(delivered('a') + delivered('b')).toBeLessThanOrEqual(100);
  // Tenant 2 sent under its own allowance: everything through.
  expect(delivered('c')).toBe(40);
  for (const s of [t1a, t1b, t2, receiver]) s.ws.close();
});
