/**
 * postgres_changes judged on the row as committed (docs/realtime-changes.md), through the official
 * client (supabase-js / realtime-js):
 * - the key is the table's primary key from the catalog, never pgoutput's key flags (under
 *   REPLICA IDENTITY FULL every column is flagged): a DELETE reveals only the key, to every
 *   subscriber of the table, and filters never act as an oracle for values it may not read;
 * - an INSERT/UPDATE reaches every subscriber whose role may SELECT the row as it was committed,
 *   even when a later transaction changed or deleted it before the check ran;
 * - values are Postgres's (timestamptz, int8, json) rendered by Postgres.
 * The property test runs random transactions of inserts/updates/deletes over two tenants against
 * a model and compares every delivery on every channel, in order.
 */
import { createClient, type RealtimeChannel, type SupabaseClient } from '@supabase/supabase-js';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fire, intents, plan, type ModelOp, type ModelRow } from '../test/helpers/change-model.ts';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';
import { until } from '../test/helpers/wait.ts';

const A = '00000000-0000-4000-8000-0000000000a1';
const B = '00000000-0000-4000-8000-0000000000b2';
type Who = 'A' | 'B' | 'anon';
const TENANT: Record<Who, string | undefined> = { A, B, anon: undefined };

let t: TestStack;
const clients: SupabaseClient[] = [];

beforeAll(async () => {
  t = await startTestStack({
    sql: `
      insert into public.tenants (id, name) values ('${A}', 'A'), ('${B}', 'B');
      create table public.items (
        id int primary key,
        tenant_id uuid not null references public.tenants (id),
        title text,
        n int,
        big int8,
        meta jsonb,
        at timestamptz
      );
      select public.enable_tenant_isolation('public.items');
      grant select, insert, update, delete on public.items to anon, authenticated;
      alter publication nextmavens_realtime add table public.items;
      create table public.marks (id int primary key);
      grant select on public.marks to anon, authenticated;
      alter publication nextmavens_realtime add table public.marks;
      create table public.nokey (tenant_id uuid, note text);
      select public.enable_tenant_isolation('public.nokey');
      grant select on public.nokey to anon, authenticated;
      alter publication nextmavens_realtime add table public.nokey;
    `,
  });
});

afterAll(async () => {
  for (const c of clients) await c.removeAllChannels();
  await t?.close();
});

async function clientFor(who: Who): Promise<SupabaseClient> {
  const c = createClient(t.stack.url, t.db.config.anonKey, { auth: { persistSession: false } });
  clients.push(c);
  if (who !== 'anon') await c.realtime.setAuth(await testToken({ role: 'authenticated', sub: `11111111-1111-4111-8111-${who === 'A' ? '00000000000a' : '00000000000b'}`, tenant_id: TENANT[who] }));
  return c;
}

interface Got {
  type: string;
  new: Record<string, unknown>;
  old: Record<string, unknown>;
  errors: unknown;
}

/** Subscribes one channel with the given bindings; resolves once SUBSCRIBED. */
async function listen(c: SupabaseClient, name: string, bindings: { event: '*' | 'INSERT' | 'UPDATE' | 'DELETE'; table: string; filter?: string }[]): Promise<Got[][]> {
  const got = bindings.map(() => [] as Got[]);
  let ch: RealtimeChannel = c.channel(name);
  bindings.forEach((b, i) => {
    ch = ch.on('postgres_changes', { schema: 'public', ...b }, (p: any) => got[i].push({ type: p.eventType, new: p.new, old: p.old, errors: p.errors }));
  });
  await new Promise<void>((resolve, reject) =>
    ch.subscribe((status, err) => (status === 'SUBSCRIBED' ? resolve() : status !== 'CLOSED' && reject(err ?? new Error(status)))),
  );
  return got;
}

describe('REPLICA IDENTITY FULL and committed values', () => {
  it('DELETE reveals only the primary key; INSERT/UPDATE only to the row tenant, with Postgres values; no insert lost to a later update or delete', async () => {
    await t.db.admin.query('alter table public.items replica identity full');
    const [a, b, anon] = await Promise.all([clientFor('A'), clientFor('B'), clientFor('anon')]);
    const [gotA, gotB, gotAnon] = await Promise.all([
      listen(a, 'full-a', [{ event: '*', table: 'items' }, { event: '*', table: 'items', filter: `tenant_id=eq.${A}` }]),
      listen(b, 'full-b', [{ event: '*', table: 'items' }, { event: '*', table: 'items', filter: `tenant_id=eq.${A}` }]),
      listen(anon, 'full-anon', [{ event: '*', table: 'items' }]),
    ]);
    // Three transactions in quick succession: the check of the INSERT runs after the row is gone.
    await t.db.admin.query(`insert into public.items values (1, '${A}', 'secret', 7, 9007199254740993, '{"k":[1,2]}', '2024-01-02 03:04:05.5+00')`);
    await t.db.admin.query(`update public.items set title = 'changed', n = 8 where id = 1`);
    await t.db.admin.query(`delete from public.items where id = 1`);
    await until(() => gotA[0].length === 3 && gotA[1].length === 3 && gotB[0].length === 1 && gotAnon[0].length === 1, 15_000, 'the three events');
    const [ins, upd, del] = gotA[0];
    expect(ins.type).toBe('INSERT');
    expect(ins.new).toMatchObject({ id: 1, tenant_id: A, title: 'secret', n: 7, meta: { k: [1, 2] } });
    expect(new Date(ins.new.at as string).toISOString()).toBe('2024-01-02T03:04:05.500Z');
    expect(typeof ins.new.big).toBe('number'); // int8 rendered as a JSON number by Postgres (to_jsonb), as Supabase does
    expect(upd).toMatchObject({ type: 'UPDATE', new: { id: 1, title: 'changed', n: 8 }, old: { id: 1, title: 'secret', n: 7 } });
    expect(del).toMatchObject({ type: 'DELETE' });
    expect(del.old).toEqual({ id: 1 });
    expect(gotA[1].map((g) => g.type)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
    // Other tenant and anon: the DELETE's key only; B's cross-tenant filter learns nothing.
    expect(gotB[0]).toEqual([{ type: 'DELETE', new: {}, old: { id: 1 }, errors: null }]);
    expect(gotAnon[0]).toEqual([{ type: 'DELETE', new: {}, old: { id: 1 }, errors: null }]);
    await new Promise((r) => setTimeout(r, 200));
    expect(gotB[1]).toEqual([]);
    await Promise.all([a, b, anon].map((c) => c.removeAllChannels()));
  });

  it('a table without a primary key gives the no-primary-key error, only to subscribers who may see the row', async () => {
    const [a, b] = await Promise.all([clientFor('A'), clientFor('B')]);
    const [gotA, gotB] = await Promise.all([listen(a, 'nokey-a', [{ event: 'INSERT', table: 'nokey' }]), listen(b, 'nokey-b', [{ event: 'INSERT', table: 'nokey' }])]);
    await t.db.admin.query(`insert into public.nokey values ('${A}', 'hidden')`);
    await until(() => gotA[0].length === 1, 15_000, 'the no-key event');
    expect(gotA[0][0]).toMatchObject({ type: 'INSERT', new: {}, errors: ['Error 400: Bad Request, no primary key'] });
    await new Promise((r) => setTimeout(r, 200));
    expect(gotB[0]).toEqual([]);
    await Promise.all([a, b].map((c) => c.removeAllChannels()));
  });
});

// ---------------------------------------------------------------------------------------- model

interface ChannelSpec {
  event: '*' | 'INSERT' | 'UPDATE' | 'DELETE';
  filter?: (who: Who) => string;
  /** The model of the filter over what the subscriber may filter on. */
  matches: (row: Partial<ModelRow>, who: Who) => boolean;
}

const CHANNELS: ChannelSpec[] = [
  { event: '*', matches: () => true },
  { event: 'INSERT', filter: () => 'n=gt.5', matches: (r) => typeof r.n === 'number' && r.n > 5 },
  { event: '*', filter: () => `tenant_id=eq.${A}`, matches: (r) => r.tenant_id === A },
  { event: 'UPDATE', filter: () => 'title=eq.x', matches: (r) => r.title === 'x' },
  { event: 'DELETE', filter: (who) => `tenant_id=eq.${TENANT[who] ?? A}`, matches: (r, who) => r.tenant_id === (TENANT[who] ?? A) },
];

const sees = (who: Who, row: ModelRow) => TENANT[who] === row.tenant_id;
type Expected = { type: string; new: Partial<ModelRow>; old: Partial<ModelRow> };

/** What each subscriber's channel must receive, in commit order (docs/realtime-changes.md). */
function expected(ops: ModelOp[], full: boolean): Record<Who, Expected[][]> {
  const out = { A: CHANNELS.map(() => []), B: CHANNELS.map(() => []), anon: CHANNELS.map(() => []) } as Record<Who, Expected[][]>;
  for (const op of ops) {
    for (const who of ['A', 'B', 'anon'] as Who[]) {
      CHANNELS.forEach((spec, i) => {
        const push = (type: string, n: Partial<ModelRow>, o: Partial<ModelRow>, filterable: Partial<ModelRow>) => {
          if ((spec.event === '*' || spec.event === type) && spec.matches(filterable, who)) out[who][i].push({ type, new: n, old: o });
        };
        if (op.kind === 'insert') {
          if (sees(who, op.row)) push('INSERT', op.row, {}, op.row);
        } else if (op.kind === 'update') {
          if (sees(who, op.after)) push('UPDATE', op.after, full ? (sees(who, op.before) ? op.before : { id: op.id }) : {}, op.after);
        } else push('DELETE', {}, { id: op.id }, full && sees(who, op.before) ? op.before : { id: op.id });
      });
    }
  }
  return out;
}

const pick = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => ['id', 'tenant_id', 'title', 'n'].includes(k)));

describe('property: every subscriber gets exactly what it may see, in commit order', () => {
  it('random transactions over two tenants, five filtered channels per socket, both replica identities', async () => {
    const who: Who[] = ['A', 'B', 'anon'];
    await t.db.admin.query('alter table public.items alter column at set default now()');
    const cs = await Promise.all(who.map(clientFor));
    const got = await Promise.all(cs.map((c, i) => listen(c, `model-${who[i]}`, [...CHANNELS.map((spec) => ({ event: spec.event, table: 'items', filter: spec.filter?.(who[i]) })), { event: 'INSERT', table: 'marks' }])));
    const writer = new pg.Client({ connectionString: t.db.url });
    await writer.connect();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(intents([A, B]), fc.boolean(), async (raw, full) => {
          run++;
          for (const g of got) for (const list of g) list.length = 0;
          await writer.query(`alter table public.items replica identity ${full ? 'full' : 'default'}`);
          const { ops, txs } = plan(raw, run * 10, [A, B]);
          await fire(writer, 'public.items', txs);
          await writer.query('insert into public.marks values ($1)', [run]);
          const markIndex = CHANNELS.length;
          await until(() => got.every((g) => g[markIndex].some((m) => m.new.id === run)), 15_000, `the marker of run ${run}`);
          const want = expected(ops, full);
          who.forEach((w, wi) => {
            CHANNELS.forEach((_, ci) => {
              const received = got[wi][ci].map((g) => ({ type: g.type, new: pick(g.new), old: pick(g.old) }));
              expect({ who: w, channel: ci, full, events: received }).toEqual({ who: w, channel: ci, full, events: want[w][ci] });
            });
          });
        }),
        { numRuns: 20 },
      );
    } finally {
      await writer.end();
      await Promise.all(cs.map((c) => c.removeAllChannels()));
    }
  }, 240_000);
});
