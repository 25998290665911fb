/**
 * Per-socket message rate: a client flooding broadcasts gets at most 100 messages a second
 * through (Supabase's max_events_per_second); the rest are dropped with a ClientRateLimitReached
 * reply, and heartbeats still pass.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { until } from '../test/helpers/wait.ts';

let t: TestStack;

beforeAll(async () => {
  t = await startTestStack();
});

afterAll(async () => {
  await t?.close();
});

async function socket(): Promise<{ ws: WebSocket; messages: Record<string, any>[] }> {
  const ws = new WebSocket(`${t.stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${t.db.config.anonKey}&vsn=1.0.0`);
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
