/**
 * Realtime through the official client (@supabase/realtime-js inside supabase-js, vsn 2.0.0
 * binary broadcasts) and a raw vsn 1.0.0 socket: joins, broadcast, presence, REST broadcast,
 * token checks at connect, postgres_changes under RLS, private channels authorized by RLS on
 * realtime.messages.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
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

const until = async (cond: () => boolean, ms = 15_000) => { // generous: the suite runs files in parallel on 2 cores
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

async function tokenFor(claims: Record<string, unknown>): Promise<string> {
  return testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', ...claims });
}

describe('private channels', () => {
  it('RLS on realtime.messages decides who may join (receive) and send; public and private channels of one name are separate', async () => {
    const T1 = '00000000-0000-4000-8000-0000000000c1';
    const T2 = '00000000-0000-4000-8000-0000000000c2';
    await db.admin.query(`
      insert into public.tenants (id, name) values ('${T1}', 'T1'), ('${T2}', 'T2');
      create policy tenant_channels_read on realtime.messages for select to authenticated
        using (realtime.topic() like auth.tenant_id()::text || ':%');
      create policy tenant_channels_write on realtime.messages for insert to authenticated
        with check (realtime.topic() like auth.tenant_id()::text || ':%' and coalesce((auth.jwt() ->> 'read_only')::boolean, false) = false);
    `);
    const as = async (claims: Record<string, unknown>) => {
      const c = client();
      await c.realtime.setAuth(await tokenFor(claims));
      return c;
    };
    const topic = `${T1}:room`;
    const got: { who: string; payload: unknown }[] = [];
    const listen = (who: string, ch: RealtimeChannel) => ch.on('broadcast', { event: 'msg' }, (m) => got.push({ who, payload: m.payload }));
    const a = listen('A', (await as({ tenant_id: T1 })).channel(topic, { config: { private: true } }));
    const writer = listen('W', (await as({ tenant_id: T1, sub: '22222222-2222-4222-8222-222222222222' })).channel(topic, { config: { private: true, broadcast: { ack: true } } }));
    const reader = listen('R', (await as({ tenant_id: T1, read_only: true })).channel(topic, { config: { private: true, broadcast: { ack: true } } }));
    const pub = listen('P', (await as({ tenant_id: T1 })).channel(topic)); // the public channel of the same name
    await Promise.all([subscribed(a), subscribed(writer), subscribed(reader), subscribed(pub)]);

    // Another tenant's user is refused with Supabase's reason.
    const b = (await as({ tenant_id: T2 })).channel(topic, { config: { private: true } });
    await expect(subscribed(b)).rejects.toThrow(`Unauthorized: You do not have permissions to read from this Channel topic: ${topic}`);
    await b.unsubscribe();

    expect(await writer.send({ type: 'broadcast', event: 'msg', payload: { n: 1 } })).toBe('ok');
    await until(() => got.filter((g) => g.payload && (g.payload as { n: number }).n === 1).length === 2);
    // The read-only member receives, but its own sends are refused (ack) and reach nobody.
    expect(await reader.send({ type: 'broadcast', event: 'msg', payload: { n: 2 } })).toBe('error');
    // REST with private=true checks the caller's INSERT permission too.
    // REST with private=true checks the caller's INSERT permission too. (supabase-js's fetch
    // sends its own session token, the anon key here, so the user's token is sent directly.)
    const restSend = async (token: string, n: number) =>
      fetch(`${stack.url}/realtime/v1/api/broadcast/${encodeURIComponent(topic)}/events/msg?private=true`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: db.config.anonKey, authorization: `Bearer ${token}` },
        body: JSON.stringify({ n }),
      });
    expect((await restSend(await tokenFor({ tenant_id: T1 }), 3)).status).toBe(202);
    const denied = await restSend(await tokenFor({ tenant_id: T2 }), 4);
    expect([denied.status, await denied.json()]).toEqual([403, { message: 'Unauthorized' }]);
    expect((await restSend(await tokenFor({ tenant_id: T1, read_only: true }), 4)).status).toBe(403);
    const batch = await fetch(`${stack.url}/realtime/v1/api/broadcast`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: db.config.anonKey, authorization: `Bearer ${await tokenFor({ tenant_id: T2 })}` },
      body: JSON.stringify({ messages: [{ topic, event: 'msg', payload: { n: 5 }, private: true }] }),
    });
    expect(batch.status).toBe(202); // skipped silently, as Supabase does
    await until(() => got.filter((g) => (g.payload as { n: number }).n === 3).length === 3);
    await new Promise((r) => setTimeout(r, 200));
    const seen = (who: string) => got.filter((g) => g.who === who).map((g) => (g.payload as { n: number }).n).sort();
    expect(seen('A')).toEqual([1, 3]);
    expect(seen('R')).toEqual([1, 3]);
    expect(seen('W')).toEqual([3]);
    expect(seen('P')).toEqual([]);
  }, 20_000);

  it('service_role may use any private channel; without a policy nobody else may', async () => {
    const svc = createClient(stack.url, db.config.serviceRoleKey, { auth: { persistSession: false } });
    clients.push(svc);
    await subscribed(svc.channel('ops:room', { config: { private: true } }));
    const anon = client().channel('ops:room', { config: { private: true } });
    await expect(subscribed(anon)).rejects.toThrow(/Unauthorized: You do not have permissions to read/);
    await anon.unsubscribe();
  });
});

describe('postgres_changes', () => {
  it('streams inserts, updates and deletes of published tables, filtered, and only rows RLS lets the subscriber see', async () => {
    const A = '00000000-0000-4000-8000-00000000000a';
    const B = '00000000-0000-4000-8000-00000000000b';
    await db.admin.query(`
      insert into public.tenants (id, name) values ('${A}', 'A'), ('${B}', 'B');
      create table public.messages (id bigint generated by default as identity primary key,
        tenant_id uuid not null default auth.tenant_id() references public.tenants (id), room text not null, body text);
      select public.enable_tenant_isolation('public.messages');
      alter table public.messages replica identity full; -- filters on deletes need the old row
      alter publication nextmavens_realtime add table public.messages;
    `);
    const tokenFor = (tenant: string) =>
      testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant });
    const asTenant = async (tenant: string) => {
      const c = client();
      await c.realtime.setAuth(await tokenFor(tenant));
      return c;
    };
    const events: { who: string; type: string; body?: unknown; room?: unknown }[] = [];
    const statusA: string[] = [];
    const chA = (await asTenant(A))
      .channel('a-messages')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'messages', filter: 'room=eq.lobby' }, (p) =>
        events.push({ who: 'A', type: p.eventType, body: (p.new as Record<string, unknown>).body, room: (p.new as Record<string, unknown>).room }),
      )
      .on('system', {}, (p) => statusA.push(String(p.message)));
    const chB = (await asTenant(B))
      .channel('b-messages')
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages' }, (p) => events.push({ who: 'B', type: p.eventType, body: (p.new as Record<string, unknown>).body }));
    await Promise.all([subscribed(chA), subscribed(chB)]);
    await until(() => statusA.includes('Subscribed to PostgreSQL'));
    // RLS is checked against the table when the change is delivered (as Supabase does), so a
    // row already deleted by then is not delivered: give each change time to arrive.
    const countA = () => events.filter((e) => e.who === 'A').length;
    await db.admin.query(`insert into public.messages (tenant_id, room, body) values ('${A}', 'lobby', 'a1'), ('${A}', 'kitchen', 'a-other-room'), ('${B}', 'lobby', 'b1')`);
    await until(() => countA() === 1 && events.some((e) => e.who === 'B'));
    await db.admin.query(`update public.messages set body = 'a1 edited' where body = 'a1'`);
    await until(() => countA() === 2);
    await db.admin.query(`delete from public.messages where body = 'a1 edited'`);
    await until(() => countA() === 3);
    await new Promise((r) => setTimeout(r, 300));
    expect(events.filter((e) => e.who === 'A')).toEqual([
      { who: 'A', type: 'INSERT', body: 'a1', room: 'lobby' },
      { who: 'A', type: 'UPDATE', body: 'a1 edited', room: 'lobby' },
      { who: 'A', type: 'DELETE', body: undefined, room: undefined },
    ]);
    expect(events.filter((e) => e.who === 'B')).toEqual([{ who: 'B', type: 'INSERT', body: 'b1' }]);
  }, 30_000);

  it('refuses tables the role cannot read, and says when a table is not published', async () => {
    await db.admin.query(`create table public.secrets (id int primary key); revoke all on public.secrets from anon, authenticated;
      create table public.unpublished (id int primary key);`);
    const denied = client().channel('s').on('postgres_changes', { event: '*', schema: 'public', table: 'secrets' }, () => undefined);
    await expect(subscribed(denied)).rejects.toThrow(/Unauthorized/);
    const system: string[] = [];
    const ch = client().channel('u').on('postgres_changes', { event: '*', schema: 'public', table: 'unpublished' }, () => undefined).on('system', {}, (p) => system.push(String(p.message)));
    await subscribed(ch);
    await until(() => system.length > 0);
    expect(system[0]).toMatch(/Unable to subscribe to changes/);
  });
});

describe('hardening', () => {
  /** A raw vsn 1.0.0 socket (JSON objects) collecting what the server sends. */
  async function rawSocket(apikey = db.config.anonKey) {
    const ws = new WebSocket(`${stack.url.replace('http', 'ws')}/realtime/v1/websocket?apikey=${apikey}&vsn=1.0.0`);
    const got: { topic: string; event: string; ref: string | null; payload: any }[] = [];
    let closed: { code: number } | undefined;
    ws.onmessage = (e) => got.push(JSON.parse(String(e.data)));
    ws.onclose = (e) => (closed = { code: e.code });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error('refused'));
    });
    let ref = 0;
    const push = (topic: string, event: string, payload: unknown) => {
      const r = String(++ref);
      ws.send(JSON.stringify({ topic, event, payload, ref: r, join_ref: r }));
      return r;
    };
    const replyTo = async (r: string) => {
      await until(() => got.some((m) => m.ref === r && m.event === 'phx_reply'));
      return got.find((m) => m.ref === r && m.event === 'phx_reply')!.payload;
    };
    return { ws, got, push, replyTo, closed: () => closed };
  }

  const channelsOpen = async () => ((await (await fetch(`${stack.url}/realtime/v1/health`, { headers: { apikey: db.config.anonKey } })).json()) as { channels: number }).channels;

  it('channel tokens must be API-role JWTs; refusals carry Supabase Realtime reason codes', async () => {
    const { SignJWT } = await import('jose');
    const { TEST_JWT_SECRET } = await import('../test/helpers/db.ts');
    const sign = (claims: Record<string, unknown>, exp: string | number, secret = TEST_JWT_SECRET) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(Math.floor(Date.now() / 1000) - 600).setExpirationTime(exp).sign(new TextEncoder().encode(secret));
    const s = await rawSocket();
    const reason = async (access_token: string) => (await s.replyTo(s.push('realtime:tok', 'phx_join', { config: {}, access_token }))).response?.reason;
    // A verifying token whose role the edge would refuse gets no further through a join.
    expect(await reason(await sign({ role: 'postgres' }, '1h'))).toBe('InvalidJWTToken: Role "postgres" is not allowed');
    expect(await reason(await sign({ role: 'authenticator' }, '1h'))).toBe('InvalidJWTToken: Role "authenticator" is not allowed');
    expect(await reason(await sign({ role: 'authenticated' }, Math.floor(Date.now() / 1000) - 120))).toMatch(/^InvalidJWTToken: Token has expired 1\d\d seconds ago$/);
    expect(await reason(await sign({ role: 'authenticated' }, '1h', 'another-secret-another-secret-another'))).toBe('JwtSignatureError: Failed to validate JWT signature');
    expect(await reason('not-a-jwt')).toBe('MalformedJWT: The token provided is not a valid JWT');
    expect(await reason(await sign({ role: 'anon' }, '1h'))).toBeUndefined(); // joined
    s.ws.close();
    // The same at connect: a postgres-role key is refused.
    await expect(rawSocket(await sign({ role: 'postgres' }, '1h'))).rejects.toThrow('refused');
  });

  it("private-channel checks run with the role's own settings (ALTER ROLE … SET), as requests do", async () => {
    await db.admin.query(`create policy anon_timeout_room on realtime.messages for select to anon
      using (realtime.topic() = 'anon-timeout' and current_setting('statement_timeout') = '3s')`);
    await subscribed(client().channel('anon-timeout', { config: { private: true } }));
  });

  it('a socket closed while its join is being authorized leaves no channel behind', async () => {
    await db.admin.query(`create policy slow_room on realtime.messages for select to anon
      using (realtime.topic() = 'slow-room' and (select true from pg_sleep(0.3)))`);
    const before = await channelsOpen();
    expect(before).toEqual(expect.any(Number));
    const s = await rawSocket();
    s.push('realtime:slow-room', 'phx_join', { config: { private: true } });
    await new Promise((r) => setTimeout(r, 50));
    s.ws.close();
    await new Promise((r) => setTimeout(r, 800));
    expect(await channelsOpen()).toBe(before);
  });

  it('malformed frames, bad payloads and unknown events are answered or ignored, never fatal', async () => {
    const s = await rawSocket();
    s.ws.send('not json');
    s.ws.send('[1,2,3]');
    s.ws.send(JSON.stringify({ topic: 5, event: 'phx_join' }));
    s.ws.send(new Uint8Array([3, 255, 255, 255, 255, 255, 1]));
    expect(await s.replyTo(s.push('realtime:bad', 'phx_join', { config: { postgres_changes: [null] } }))).toEqual({
      status: 'error',
      response: { reason: 'UnknownErrorOnChannel: postgres_changes must be a list of objects' },
    });
    expect((await s.replyTo(s.push('realtime:odd', 'phx_join', { config: { broadcast: null, presence: 'x', private: 'nope' } }))).status).toBe('ok');
    expect((await s.replyTo(s.push('realtime:nullpayload', 'phx_join', null))).status).toBe('ok');
    expect((await s.replyTo(s.push('realtime:odd', 'no_such_event', { a: 1 }))).status).toBe('ok');
    expect((await s.replyTo(s.push('realtime:odd', 'presence', { event: 'track', payload: 'x' }))).status).toBe('error');
    s.push('realtime:odd', 'access_token', 42); // ignored (no reply, as Supabase)
    expect((await s.replyTo(s.push('realtime:nojoin', 'broadcast', {}))).response).toEqual({ reason: 'unmatched topic' });
    expect((await s.replyTo(s.push('phoenix', 'heartbeat', {}))).status).toBe('ok');
    // Over the frame limit: that socket is closed (1009), the service carries on.
    s.ws.send('x'.repeat(300 * 1024));
    await until(() => s.closed() !== undefined);
    expect(s.closed()!.code).toBe(1009);
    const t2 = await rawSocket();
    expect((await t2.replyTo(t2.push('phoenix', 'heartbeat', {}))).status).toBe('ok');
    t2.ws.close();
  });

  it('REST broadcast: binary httpSend fans out as binary, bad batches are 422, oversized bodies 413', async () => {
    const listener = client().channel('bin-room');
    const got: unknown[] = [];
    listener.on('broadcast', { event: 'bytes' }, (m) => got.push(m.payload));
    await subscribed(listener);
    const sender = client().channel('bin-room');
    expect(await sender.httpSend('bytes', new Uint8Array([1, 2, 3]))).toEqual({ success: true });
    await until(() => got.length === 1);
    expect(new Uint8Array(got[0] as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    const post = (body: string, path = '') =>
      fetch(`${stack.url}/realtime/v1/api/broadcast${path}`, { method: 'POST', headers: { 'content-type': 'application/json', apikey: db.config.anonKey }, body });
    const bad = await post(JSON.stringify({ messages: [null] }));
    expect([bad.status, await bad.json()]).toEqual([422, { errors: { messages: ['is invalid'] } }]);
    expect((await post('{"messages": "x"}')).status).toBe(422);
    const broken = await post('{not json', '/bin-room/events/x');
    expect(broken.status).toBe(400);
    expect(await broken.json()).toHaveProperty('message');
    const huge = await post(JSON.stringify({ x: 'y'.repeat(300 * 1024) }), '/bin-room/events/x');
    expect([huge.status, typeof ((await huge.json()) as { message?: unknown }).message]).toEqual([413, 'string']);
  });

  it('httpSend on a private channel as a signed-in user (supabase-js sends the session token)', async () => {
    await db.admin.query(`
      create policy own_room_read on realtime.messages for select to authenticated using (realtime.topic() = 'user:' || auth.uid()::text);
      create policy own_room_write on realtime.messages for insert to authenticated with check (realtime.topic() = 'user:' || auth.uid()::text);`);
    const sb = client();
    const { data, error } = await sb.auth.signUp({ email: 'rt-user@example.com', password: 'secret123' });
    expect(error).toBeNull();
    const own = sb.channel(`user:${data.user!.id}`, { config: { private: true } });
    expect(await own.httpSend('note', { n: 1 })).toEqual({ success: true });
    const other = sb.channel('user:00000000-0000-4000-8000-000000000999', { config: { private: true } });
    await expect(other.httpSend('note', { n: 2 })).rejects.toThrow('Unauthorized');
  });
});
