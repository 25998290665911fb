/**
 * GraphQL row-change subscriptions deliver the row as committed (docs/realtime-changes.md),
 * through a real graphql-ws client: random transactions of inserts/updates/deletes over two
 * tenants, fired back to back so later writes race the checks of earlier ones, compared with a
 * model — each subscriber gets exactly the events whose committed row (the old row for DELETE) it
 * may SELECT, in commit order, with the row's committed values (never null for an INSERT whose
 * row is already gone).
 */
import fc from 'fast-check';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fire, intents, plan, type ModelOp } from '../test/helpers/change-model.ts';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { until } from '../test/helpers/wait.ts';

const A = '00000000-0000-4000-8000-0000000000a1';
const B = '00000000-0000-4000-8000-0000000000b2';
type Who = 'A' | 'B' | 'anon';
const TENANT: Record<Who, string | undefined> = { A, B, anon: undefined };
const MARK = 'mark';

let t: TestStack;
const clients: Client[] = [];

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      insert into public.tenants (id, name) values ('${A}', 'A'), ('${B}', 'B');
      create table public.gitems (id int primary key, tenant_id uuid not null references public.tenants (id), title text, n int);
      select public.enable_tenant_isolation('public.gitems');
      -- Marker rows are visible to everyone: they tell a subscription that all earlier events were handled.
      create policy markers on public.gitems for select using (title = '${MARK}');
      grant select on public.gitems to anon, authenticated;
      select graphql.enable_subscriptions('public.gitems');
    `,
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await t?.close();
});

async function connect(who: Who): Promise<Client> {
  const params: Record<string, unknown> = { apikey: t.db.config.anonKey };
  if (who !== 'anon') params.Authorization = `Bearer ${await testToken({ role: 'authenticated', sub: '11111111-1111-4111-8111-111111111111', tenant_id: TENANT[who] })}`;
  const client = createClient({ url: `${t.stack.url.replace(/^http/, 'ws')}/graphql/v1?apikey=${t.db.config.anonKey}`, webSocketImpl: WebSocket, connectionParams: params, retryAttempts: 0 });
  clients.push(client);
  return client;
}

interface Event {
  event: string;
  id: number;
  gitem: { id: number; tenantId: string; title: string; n: number | null } | null;
}

function subscribe(client: Client, events: string[] | null): { got: Event[]; errors: unknown[] } {
  const got: Event[] = [];
  const errors: unknown[] = [];
  client.subscribe(
    { query: 'subscription($events: [RowChangeEvent!]) { gitemChanged(events: $events) { event id gitem { id tenantId title n } } }', variables: { events } },
    { next: (r) => (r.errors ? errors.push(r.errors) : got.push((r.data as { gitemChanged: Event }).gitemChanged)), error: (e) => errors.push(e), complete: () => undefined },
  );
  return { got, errors };
}

const sees = (who: Who, row: { tenant_id: string }) => TENANT[who] === row.tenant_id;

/** What a subscriber must receive, in commit order: only events whose committed row it may SELECT. */
function expected(ops: ModelOp[], who: Who, kinds: string[] | null): Event[] {
  const out: Event[] = [];
  for (const op of ops) {
    const ev = op.kind === 'insert' ? 'INSERT' : op.kind === 'update' ? 'UPDATE' : 'DELETE';
    if (kinds && !kinds.includes(ev)) continue;
    const row = op.kind === 'insert' ? op.row : op.kind === 'update' ? op.after : op.before;
    if (!sees(who, row)) continue;
    out.push({ event: ev, id: row.id, gitem: op.kind === 'delete' ? null : { id: row.id, tenantId: row.tenant_id, title: row.title, n: row.n } });
  }
  return out;
}

it('property: every subscriber gets exactly the committed rows it may see, in commit order', async () => {
  const who: Who[] = ['A', 'B', 'anon'];
  const kinds: (string[] | null)[] = [null, ['INSERT', 'DELETE']];
  const subs = await Promise.all(who.map(async (w) => { const c = await connect(w); return kinds.map((k) => subscribe(c, k)); }));
  const writer = new pg.Client({ connectionString: t.db.url });
  await writer.connect();
  let markId = 100_000;
  /** A marker insert and delete: once every subscription has seen both, all earlier events were handled. */
  const mark = async (ms: number) => {
    const id = ++markId;
    const seen = () => subs.every((s) => s.every((x) => x.got.some((e) => e.id === id && e.event === 'DELETE')));
    const deadline = Date.now() + ms;
    await writer.query(`insert into public.gitems (id, tenant_id, title) values ($1, $2, '${MARK}')`, [id, A]);
    await writer.query('delete from public.gitems where id = $1', [id]);
    await until(() => seen() || Date.now() > deadline, ms + 1000, 'the marker');
    return seen();
  };
  // graphql-ws does not acknowledge a subscription: mark until every one is live.
  const deadline = Date.now() + 20_000;
  while (!(await mark(500))) if (Date.now() > deadline) throw new Error('subscriptions never became active');
  const withoutMarks = (events: Event[]) => events.filter((e) => e.id <= 100_000);
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(intents([A, B]), async (raw) => {
        run++;
        for (const s of subs) for (const x of s) x.got.length = 0;
        const { ops, txs } = plan(raw, run * 10, [A, B]);
        await fire(writer, 'public.gitems', txs);
        expect(await mark(15_000)).toBe(true);
        who.forEach((w, wi) => {
          kinds.forEach((k, ki) => {
            expect({ who: w, events: k, got: withoutMarks(subs[wi][ki].got), errors: subs[wi][ki].errors }).toEqual({ who: w, events: k, got: expected(ops, w, k), errors: [] });
          });
        });
      }),
      { numRuns: 15 },
    );
  } finally {
    await writer.end();
  }
}, 240_000);

it('a row too large for NOTIFY (parked in graphql.change_rows) arrives whole, even when deleted at once', async () => {
  const [a, b] = await Promise.all([connect('A'), connect('B')]);
  const [subA, subB] = [subscribe(a, null), subscribe(b, null)];
  const writer = new pg.Client({ connectionString: t.db.url });
  await writer.connect();
  try {
    // Markers until both subscriptions are live.
    let id = 200_000;
    const live = () => [subA, subB].every((s) => s.got.some((e) => e.id > 200_000));
    const deadline = Date.now() + 20_000;
    while (!live()) {
      if (Date.now() > deadline) throw new Error('subscriptions never became active');
      await writer.query(`insert into public.gitems (id, tenant_id, title) values ($1, $2, '${MARK}')`, [++id, B]);
      await new Promise((r) => setTimeout(r, 200));
    }
    const big = 'z'.repeat(20_000);
    await writer.query('insert into public.gitems (id, tenant_id, title, n) values (300000, $1, $2, 1)', [A, big]);
    await writer.query('delete from public.gitems where id = 300000');
    await until(() => subA.got.filter((e) => e.id === 300_000).length === 2, 15_000, 'the large insert and its delete');
    expect(subA.got.filter((e) => e.id === 300_000)).toEqual([
      { event: 'INSERT', id: 300_000, gitem: { id: 300_000, tenantId: A, title: big, n: 1 } },
      { event: 'DELETE', id: 300_000, gitem: null },
    ]);
    await writer.query(`insert into public.gitems (id, tenant_id, title) values ($1, $2, '${MARK}')`, [++id, B]);
    await until(() => subB.got.some((e) => e.id === id), 15_000, 'the last marker');
    expect(subB.got.filter((e) => e.id === 300_000)).toEqual([]);
  } finally {
    await writer.end();
  }
});
