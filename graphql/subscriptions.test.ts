/**
 * GraphQL subscriptions through a real graphql-ws client, in the embedded gateway and on the
 * standalone service: row changes reach only the subscribers whose own role and claims may see
 * the row (two tenants, anon), for INSERT, UPDATE and DELETE; connection auth is enforced.
 */
import { createClient, type Client } from 'graphql-ws';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serveOne, type RunningStack } from '../cli/stack.ts';
import { type TestDatabase, testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';
const clients: Client[] = [];

const token = (tenant: string, expiresIn = '1h') =>
  testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: tenant }, expiresIn);

const wsUrl = (base: string, path: string) => `${base.replace(/^http/, 'ws')}${path}`;

function connect(url: string, connectionParams: Record<string, unknown>, onClosed?: (e: { code: number; reason: string }) => void): Client {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
    on: { closed: (e) => onClosed?.(e as { code: number; reason: string }) },
  });
  clients.push(client);
  return client;
}

/** Ids of the rows written to warm subscriptions up: their events are not part of any assertion. */
const warm = new Map<string, string>(); // id → tenant
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Subscription {
  /** Events, warm-up rows left out. */
  readonly events: any[];
  received: any[];
  errors: unknown[];
  /** Resolves once `n` events (warm-up rows left out) arrived; rejects after `ms`. */
  waitFor(n: number, ms?: number): Promise<any[]>;
  dispose(): void;
}

function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}): Subscription {
  const received: any[] = [];
  const errors: unknown[] = [];
  const dispose = client.subscribe({ query, variables }, {
    next: (r) => received.push(r.errors ? { errors: r.errors } : r.data),
    error: (e) => errors.push(e),
    complete: () => undefined,
  });
  const sub: Subscription = {
    get events() {
      return received.filter((e) => !warm.has(e?.todoChanged?.id));
    },
    received,
    errors,
    async waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms;
      while (sub.events.length < n) {
        if (errors.length) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events, got ${JSON.stringify(sub.events)}`);
        await sleep(20);
      }
      return sub.events;
    },
    dispose,
  };
  return sub;
}

/**
 * Subscriptions start (connect, subscribe, LISTEN) asynchronously and graphql-ws does not
 * acknowledge them: write throwaway rows of `tenant` until each subscription has seen one.
 */
async function warmUp(subs: Subscription[], tenant: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (subs.some((s) => s.received.length === 0)) {
    if (Date.now() > deadline) throw new Error('subscriptions never became active');
    const { rows } = await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'warm-up') returning id`, [tenant]);
    warm.set(rows[0].id, tenant);
    await db.admin.query(`delete from public.todos where id = $1`, [rows[0].id]);
    await sleep(100);
  }
}

const TODO_CHANGED = `subscription($events: [RowChangeEvent!]) { todoChanged(events: $events) { event id todo { title tenantId project { name } } } }`;

beforeAll(async () => {
  t = await startTestStack({ fixtures: 'rest-basic.sql', sql: `select graphql.enable_subscriptions('public.todos')` });
  ({ db, stack } = t);
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await t?.close();
});

describe('graphql subscriptions', () => {
  it('delivers each tenant only its own rows: insert, update and delete; anon sees nothing', async () => {
    const url = wsUrl(stack.url, `/graphql/v1?apikey=${db.config.anonKey}`);
    const a = subscribe(connect(url, { Authorization: `Bearer ${await token(TENANT_A)}` }), TODO_CHANGED);
    const b = subscribe(connect(url, { authorization: `Bearer ${await token(TENANT_B)}` }), TODO_CHANGED);
    const anon = subscribe(connect(url, { apikey: db.config.anonKey }), TODO_CHANGED);
    await warmUp([a], TENANT_A);
    await warmUp([b], TENANT_B);

    const insertA = await db.admin.query(`insert into public.todos (tenant_id, title, project_id) values ($1, 'a: new', 1) returning id`, [TENANT_A]);
    const idA = insertA.rows[0].id as string;
    await a.waitFor(1);
    expect(a.events[0].todoChanged).toEqual({ event: 'INSERT', id: idA, todo: { title: 'a: new', tenantId: TENANT_A, project: { name: 'Windows 7' } } });
    // A write of tenant B reaches B: every earlier event (tenant A's) would have come before it.
    const insertB = await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'b: new') returning id`, [TENANT_B]);
    const idB = insertB.rows[0].id as string;
    await b.waitFor(1);
    expect(b.events).toEqual([{ todoChanged: { event: 'INSERT', id: idB, todo: { title: 'b: new', tenantId: TENANT_B, project: null } } }]);

    await db.admin.query(`update public.todos set title = 'a: renamed' where id = $1`, [idA]);
    await db.admin.query(`update public.todos set done = true where id = $1`, [idB]);
    await a.waitFor(2);
    await b.waitFor(2);
    expect(a.events[1].todoChanged).toMatchObject({ event: 'UPDATE', id: idA, todo: { title: 'a: renamed' } });
    expect(b.events[1].todoChanged).toMatchObject({ event: 'UPDATE', id: idB, todo: { title: 'b: new' } });

    await db.admin.query(`delete from public.todos where id = $1`, [idA]);
    await db.admin.query(`delete from public.todos where id = $1`, [idB]);
    await a.waitFor(3);
    await b.waitFor(3);
    expect(a.events[2].todoChanged).toEqual({ event: 'DELETE', id: idA, todo: null });
    expect(b.events[2].todoChanged).toEqual({ event: 'DELETE', id: idB, todo: null });

    await sleep(300);
    expect(a.events).toHaveLength(3);
    expect(b.events).toHaveLength(3);
    expect(anon.received).toEqual([]); // not even the warm-up rows
    // Nor did a warm-up row (insert and delete) of one tenant reach the other.
    expect(a.received.every((e) => [undefined, TENANT_A].includes(warm.get(e.todoChanged.id)))).toBe(true);
    expect(b.received.every((e) => [undefined, TENANT_B].includes(warm.get(e.todoChanged.id)))).toBe(true);
    expect([a, b, anon].flatMap((s) => s.errors)).toEqual([]);
    for (const s of [a, b, anon]) s.dispose();
  });

  it('filters by event kind, and changes made through GraphQL mutations are delivered too', async () => {
    const url = wsUrl(stack.url, `/graphql?apikey=${db.config.anonKey}`);
    const tokenA = await token(TENANT_A);
    const deletes = subscribe(connect(url, { Authorization: `Bearer ${tokenA}` }), TODO_CHANGED, { events: ['DELETE'] });
    await warmUp([deletes], TENANT_A);
    const created = await fetch(`${stack.url}/graphql/v1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: db.config.anonKey, authorization: `Bearer ${tokenA}` },
      body: JSON.stringify({ query: `mutation { createTodo(input: { todo: { title: "a: via graphql" } }) { todo { id } } }` }),
    }).then((r) => r.json() as Promise<any>);
    const id = created.data.createTodo.todo.id;
    await db.admin.query(`delete from public.todos where id = $1`, [id]);
    await deletes.waitFor(1);
    expect(deletes.events).toEqual([{ todoChanged: { event: 'DELETE', id, todo: null } }]);
    expect(deletes.received.every((e) => e.todoChanged.event === 'DELETE')).toBe(true);
    deletes.dispose();
  });

  it('closes connections whose token is invalid (4403 with the reason), and accepts none as anon', async () => {
    const url = wsUrl(stack.url, `/graphql/v1?apikey=${db.config.anonKey}`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const s = subscribe(connect(url, { Authorization: 'Bearer not.a.jwt' }, resolve), TODO_CHANGED);
      void s;
    });
    const e = await closed;
    expect(e.code).toBe(4403);
    expect(e.reason).toMatch(/^Invalid JWT/);

    const expired = new Promise<{ code: number; reason: string }>((resolve) => {
      void (async () => subscribe(connect(url, { Authorization: `Bearer ${await token(TENANT_A, '-1m')}` }, resolve), TODO_CHANGED))();
    });
    expect((await expired).reason).toMatch(/Invalid JWT/);

    const query = subscribe(connect(url, {}), `{ todos { totalCount } clients { totalCount } }`);
    await query.waitFor(1);
    expect(query.events[0]).toEqual({ todos: { totalCount: 0 }, clients: { totalCount: 2 } });
  });

  it('applies the operation limits to WebSocket operations too', async () => {
    const client = connect(wsUrl(stack.url, `/graphql?apikey=${db.config.anonKey}`), {});
    const tooDeep = subscribe(client, `subscription { todoChanged { todo { project { client { projects { nodes { client { projects { nodes {
      client { projects { nodes { client { projects { nodes { client { name } } } } } } } } } } } } } } } } }`);
    const deadline = Date.now() + 5000;
    while (!tooDeep.errors.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(tooDeep.errors[0]).toEqual([expect.objectContaining({ message: 'The operation has depth 17, over the maximum of 16', extensions: expect.objectContaining({ code: 'GRAPHQL_DEPTH_LIMIT' }) })]);
  });

  it('a table enabled at runtime gets its subscription field (watch mode), and loses it when disabled', async () => {
    const fields = async () => {
      const res = await fetch(`${stack.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ __type(name: "Subscription") { fields { name } } }` }),
      });
      return (((await res.json()) as any).data.__type.fields.map((f: { name: string }) => f.name) as string[]).sort();
    };
    const until = async (ok: (names: string[]) => boolean) => {
      const deadline = Date.now() + 10_000;
      let names = await fields();
      while (!ok(names) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        names = await fields();
      }
      return names;
    };
    expect(await fields()).toEqual(['todoChanged']);
    await db.admin.query(`create table public.widgets (id int primary key, label text); grant select on public.widgets to anon`);
    await db.admin.query(`select graphql.enable_subscriptions('public.widgets')`);
    expect(await until((n) => n.includes('widgetChanged'))).toEqual(['todoChanged', 'widgetChanged']);
    await db.admin.query(`select graphql.disable_subscriptions('public.widgets')`);
    expect(await until((n) => !n.includes('widgetChanged'))).toEqual(['todoChanged']);
    await expect(db.admin.query(`create table public.nokey (a int); select graphql.enable_subscriptions('public.nokey')`)).rejects.toThrow(/no primary key/);
  }, 30_000);

  it('through the gateway, a token only in connectionParams (no apikey in the URL) subscribes on /graphql/v1 and /graphql; a bad one is 4403', async () => {
    const tokenA = await token(TENANT_A);
    const subs = ['/graphql/v1', '/graphql'].map((p) => subscribe(connect(wsUrl(stack.url, p), { Authorization: `Bearer ${tokenA}` }), TODO_CHANGED));
    await warmUp(subs, TENANT_A);
    await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'b: not for a')`, [TENANT_B]);
    await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'a: params only')`, [TENANT_A]);
    for (const s of subs) {
      await s.waitFor(1);
      expect(s.events).toEqual([{ todoChanged: expect.objectContaining({ event: 'INSERT', todo: expect.objectContaining({ title: 'a: params only', tenantId: TENANT_A }) }) }]);
      s.dispose();
    }
    for (const params of [{ Authorization: 'Bearer not.a.jwt' }, { apikey: 'not-a-key' }]) {
      const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
        subscribe(connect(wsUrl(stack.url, '/graphql/v1'), params, resolve), TODO_CHANGED);
      });
      expect(closed.code, JSON.stringify(params)).toBe(4403);
      expect(closed.reason).toMatch(/Invalid JWT/);
    }
  });

  it('only the WebSocket upgrade of GraphQL skips the edge key check: HTTP on /graphql/v1 and realtime upgrades still need an apikey', async () => {
    const post = await fetch(`${stack.url}/graphql/v1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
    expect(post.status).toBe(401);
    expect(await post.json()).toMatchObject({ code: 'no_api_key' });
    const upgrade = (path: string, protocol: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(wsUrl(stack.url, path), protocol);
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          resolve(101);
          ws.close();
        });
        ws.on('error', () => undefined);
      });
    expect(await upgrade('/realtime/v1/websocket?vsn=1.0.0', 'phoenix')).toBe(401);
    expect(await upgrade('/graphql/v1', 'graphql-transport-ws')).toBe(101);
  });

  it('works on the standalone service (GRAPHILE_PORT) at /graphql and /graphql/v1', async () => {
    const alone = await serveOne('graphql', { ...db.config, host: '127.0.0.1', ports: { ...db.config.ports, graphql: 0 } }, pino({ level: 'silent' }));
    try {
      const tokenB = await token(TENANT_B);
      const s1 = subscribe(connect(wsUrl(alone.url, '/graphql'), { Authorization: `Bearer ${tokenB}` }), TODO_CHANGED);
      const s2 = subscribe(connect(wsUrl(alone.url, '/graphql/v1'), { Authorization: `Bearer ${tokenB}` }), TODO_CHANGED);
      await warmUp([s1, s2], TENANT_B);
      await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'a: hidden')`, [TENANT_A]);
      await db.admin.query(`insert into public.todos (tenant_id, title) values ($1, 'b: standalone')`, [TENANT_B]);
      for (const s of [s1, s2]) {
        await s.waitFor(1);
        expect(s.events).toEqual([{ todoChanged: expect.objectContaining({ event: 'INSERT', todo: expect.objectContaining({ title: 'b: standalone' }) }) }]);
        s.dispose();
      }
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.dispose()));
      await alone.close();
    }
  });
});
