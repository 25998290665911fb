/**
 * Realtime through the official client (@supabase/realtime-js inside supabase-js, vsn 2.0.0
 * binary broadcasts) and a raw vsn 1.0.0 socket: joins, broadcast, presence, REST broadcast,
 * token checks at connect.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const clients: SupabaseClient[] = [];

function client(): SupabaseClient {
  const c = createClient(stack.url, db.config.anonKey, { auth: { persistSession: false } });
  clients.push(c);
  return c;
}

function subscribed(ch: RealtimeChannel): Promise<void> {
  return new Promise((resolve, reject) => ch.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))));
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  t = await startTestStack();
  ({ db, stack } = t);
});

afterAll(async () => {
  for (const c of clients) await c.removeAllChannels();
  await t?.close();
});

describe('realtime', () => {
  it('broadcast reaches the other subscribers (not the sender unless self)', async () => {
    const a = client().channel('room1');
    const b = client().channel('room1', { config: { broadcast: { self: true } } });
    const gotA: unknown[] = [];
    const gotB: unknown[] = [];
    a.on('broadcast', { event: 'cursor' }, (m) => gotA.push(m.payload));
    b.on('broadcast', { event: 'cursor' }, (m) => gotB.push(m.payload));
    await Promise.all([subscribed(a), subscribed(b)]);
    expect(await a.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } })).toBe('ok');
    await until(() => gotB.length === 1);
    expect(gotB).toEqual([{ x: 1 }]);
    await b.send({ type: 'broadcast', event: 'cursor', payload: { x: 2 } });
    await until(() => gotA.length === 1 && gotB.length === 2);
    expect(gotA).toEqual([{ x: 2 }]);
  });

  it('presence: state, joins and leaves', async () => {
    const a = client().channel('lobby', { config: { presence: { key: 'ann' } } });
    const b = client().channel('lobby', { config: { presence: { key: 'bob' } } });
    const leaves: string[] = [];
    a.on('presence', { event: 'sync' }, () => undefined);
    a.on('presence', { event: 'leave' }, ({ key }) => leaves.push(key));
    b.on('presence', { event: 'sync' }, () => undefined);
    await Promise.all([subscribed(a), subscribed(b)]);
    await a.track({ online: true });
    await b.track({ online: true, name: 'Bob' });
    await until(() => Object.keys(a.presenceState()).length === 2 && Object.keys(b.presenceState()).length === 2);
    expect(a.presenceState().bob[0]).toMatchObject({ online: true, name: 'Bob', presence_ref: expect.any(String) });
    await b.untrack();
    await until(() => leaves.includes('bob'));
    expect(Object.keys(a.presenceState())).toEqual(['ann']);
  });

  it('REST broadcast (httpSend) reaches WebSocket subscribers with 202', async () => {
    const listener = client().channel('news');
    const got: unknown[] = [];
    listener.on('broadcast', { event: 'headline' }, (m) => got.push(m.payload));
    await subscribed(listener);
    const res = await fetch(`${stack.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: db.config.anonKey, authorization: `Bearer ${db.config.anonKey}` },
      body: JSON.stringify({ messages: [{ topic: 'news', event: 'headline', payload: { title: 'hi' } }] }),
    });
    expect(res.status).toBe(202);
    await until(() => got.length === 1);
    expect(got).toEqual([{ title: 'hi' }]);
  });

  it('vsn 1.0.0 sockets speak JSON objects; heartbeats are answered; bad keys are refused', async () => {
    const wsUrl = `${stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${db.config.anonKey}&vsn=1.0.0`;
    const ws = new WebSocket(wsUrl);
    const messages: Record<string, unknown>[] = [];
    ws.onmessage = (e) => messages.push(JSON.parse(String(e.data)));
    await new Promise((r) => (ws.onopen = r));
    ws.send(JSON.stringify({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '1' }));
    ws.send(JSON.stringify({ topic: 'realtime:v1room', event: 'phx_join', payload: { config: { postgres_changes: [] } }, ref: '2', join_ref: '2' }));
    await until(() => messages.length >= 3);
    expect(messages[0]).toEqual({ topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '1' });
    expect(messages[1]).toMatchObject({ topic: 'realtime:v1room', event: 'phx_reply', payload: { status: 'ok', response: { postgres_changes: [] } } });
    ws.close();
    const bad = new WebSocket(`${stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=garbage&vsn=1.0.0`);
    const closed = await new Promise<boolean>((r) => {
      bad.onerror = () => r(true);
      bad.onopen = () => r(false);
    });
    expect(closed).toBe(true);
  });
});
