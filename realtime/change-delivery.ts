/**
 * Who gets what of a batch of database changes (docs/realtime-changes.md): each table's rows of
 * the batch are checked and rendered by Postgres for every claims group of this instance's
 * subscribers (db/committed-rows.ts checkCommittedChanges, over the rows as committed) in one
 * statement per GROUPS_PER_CHECK groups, then each group's view of each change is worked out
 * once, filtered once per set of alike channels (same socket version, topic and bindings), and
 * the frame, encoded once per distinct content, goes as the same Buffer to every channel that
 * gets it, in commit order.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { JwtClaims } from '../core/jwt.ts';
import { checkCommittedChanges, qualifiedName, type CheckedRows } from '../db/committed-rows.ts';
import { claimedTenant } from '../db/tenants.ts';
import type { RowChange, Transaction, WalRow } from './changes.ts';
import type { ChannelBroker } from './channels.ts';
import { sendFrame, type Binding, type Channel } from './connection.ts';
import { matchesFilters } from './filters.ts';
import { encode, type Vsn } from './phoenix.ts';

export interface DeliveryDeps {
  /** Where the checks run, one statement each; its connections bound a statement's time (realtime/service.ts). */
  checks: Pick<pg.Pool, 'query'>;
  broker: ChannelBroker;
  log: Logger;
}

/** Claims groups checked by one statement: a table's changes of a batch cost ⌈groups / 100⌉ statements. */
export const GROUPS_PER_CHECK = 100;

/** SQL statements the delivery of changes has sent and the changes it checked: bench/realtime.ts prints their ratio. */
export const deliveryStats = { statements: 0, changes: 0 };

/** Does `b` ask for changes of this kind on this table? (Its filters are applied to what the subscriber may see.) */
export const bindingTargets = (b: Binding, c: RowChange) =>
  (b.schema === '*' || b.schema === c.schema) && (b.table === '*' || b.table === c.table) && (b.event === '*' || b.event === c.type);

/** A group's channels with the same socket version, topic and bindings: they get identical frames. */
interface Alike {
  vsn: Vsn;
  topic: string;
  bindings: Binding[];
  channels: Channel[];
}

/** Subscribers with identical claims: one check, one view of each change. */
interface Group {
  claims: JwtClaims;
  tenant: string | undefined;
  alike: Alike[];
}

// Claims (frozen by core/jwt.ts's cache) and a channel's bindings (set at its join) do not
// change: their keys are computed once.
const claimsKeys = new WeakMap<object, string>();
const bindingsKeys = new WeakMap<Binding[], string>();
function keyOf<T extends object>(keys: WeakMap<T, string>, value: T): string {
  let key = keys.get(value);
  if (key === undefined) keys.set(value, (key = JSON.stringify(value)));
  return key;
}

function groupSubscribers(subscribers: Iterable<Channel>): Group[] {
  const groups = new Map<string, { group: Group; alike: Map<string, Alike> }>();
  for (const ch of subscribers) {
    const key = keyOf(claimsKeys, ch.claims);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { group: { claims: ch.claims, tenant: claimedTenant(ch.claims), alike: [] }, alike: new Map() }));
    const alikeKey = `${ch.conn.vsn}\u0000${ch.topic}\u0000${keyOf(bindingsKeys, ch.bindings)}`;
    let a = g.alike.get(alikeKey);
    if (!a) {
      g.alike.set(alikeKey, (a = { vsn: ch.conn.vsn, topic: ch.topic, bindings: ch.bindings, channels: [] }));
      g.group.alike.push(a);
    }
    a.channels.push(ch);
  }
  return [...groups.values()].map((g) => g.group);
}

/**
 * The groups of the broker's subscribers, kept until a channel joins or leaves or a channel's
 * claims change (a token refresh, channel-messages.ts): compared by identity, as claims are
 * replaced, never changed.
 */
const grouped = new WeakMap<ChannelBroker, { version: number; claims: Map<Channel, JwtClaims>; groups: Group[] }>();
function groupsOf(broker: ChannelBroker): Group[] {
  const cached = grouped.get(broker);
  if (cached && cached.version === broker.subscribedVersion) {
    let same = true;
    for (const [ch, claims] of cached.claims) if (ch.claims !== claims) same = false;
    if (same) return cached.groups;
  }
  const groups = groupSubscribers(broker.subscribed);
  grouped.set(broker, { version: broker.subscribedVersion, claims: new Map([...broker.subscribed].map((ch) => [ch, ch.claims])), groups });
  return groups;
}

/**
 * One table's changed rows of a batch, checked and rendered by Postgres: each row as Postgres
 * renders it, its key, which rows each claims group may SELECT, and which groups' tenants are
 * suspended (they get nothing). Every new and old row the WAL carries is one entry. Policies are
 * evaluated over the values as committed, so a row a later transaction changed or deleted
 * before this check is judged as it was, not dropped (docs/realtime-changes.md).
 */
interface CheckedTable extends Omit<CheckedRows, 'visible'> {
  visible: Map<Group, Set<number>>;
  suspended: Set<Group>;
}

interface TableBatch {
  name: string;
  rows: WalRow[];
  groups: Set<Group>;
  changes: { c: RowChange; newIndex: number; oldIndex: number }[];
}

/** undefined: the check could not run, and nothing of the table is delivered. */
async function checkTable(deps: DeliveryDeps, t: TableBatch, xids: number[]): Promise<CheckedTable | undefined> {
  const groups = [...t.groups];
  const chunks: Group[][] = [];
  for (let i = 0; i < groups.length; i += GROUPS_PER_CHECK) chunks.push(groups.slice(i, i + GROUPS_PER_CHECK));
  try {
    const results = await Promise.all(
      chunks.map((chunk) => {
        deliveryStats.statements++;
        return checkCommittedChanges(deps.checks, t.name, t.rows, chunk.map((g) => g.claims), xids, chunk.map((g) => g.tenant));
      }),
    );
    const checked: CheckedTable = { rendered: results[0].rendered, keys: results[0].keys, visible: new Map(), suspended: new Set() };
    chunks.forEach((chunk, k) =>
      chunk.forEach((g, i) => {
        checked.visible.set(g, results[k].visible[i]);
        if (results[k].suspended.has(i)) checked.suspended.add(g);
      }),
    );
    return checked;
  } catch (err) {
    deps.log.warn({ err }, 'realtime: visibility check failed; not delivering');
    return undefined;
  }
}

/** Where a change's rows sit in its table's CheckedTable. */
interface Located {
  checked: CheckedTable;
  groups: Set<Group>;
  newIndex: number;
  oldIndex: number;
}

/** Delivers a batch of transactions, in commit order, to this instance's subscribers. */
export async function deliverChanges(deps: DeliveryDeps, txs: Transaction[]): Promise<void> {
  if (!deps.broker.subscribed.size) return;
  const groups = groupsOf(deps.broker);
  // Per table: its rows (new and old) and the claims groups subscribed to any of its changes.
  const tables = new Map<string, TableBatch>();
  for (const tx of txs) {
    for (const c of tx.changes) {
      const wanted = groups.filter((g) => g.alike.some((a) => a.bindings.some((b) => bindingTargets(b, c))));
      if (!wanted.length) continue;
      const name = qualifiedName(c.schema, c.table);
      let t = tables.get(name);
      if (!t) tables.set(name, (t = { name, rows: [], groups: new Set(), changes: [] }));
      for (const g of wanted) t.groups.add(g);
      const newIndex = c.record ? t.rows.push(c.record) - 1 : -1;
      const oldIndex = c.oldRecord ? t.rows.push(c.oldRecord) - 1 : -1;
      t.changes.push({ c, newIndex, oldIndex });
    }
  }
  if (!tables.size) return;
  // Policies may read other tables written by the same transactions (memberships): the check
  // waits until those are visible.
  const xids = txs.map((tx) => tx.xid);
  const located = new Map<RowChange, Located>();
  await Promise.all(
    [...tables.values()].map(async (t) => {
      deliveryStats.changes += t.changes.length;
      const checked = await checkTable(deps, t, xids);
      if (checked) for (const { c, newIndex, oldIndex } of t.changes) located.set(c, { checked, groups: t.groups, newIndex, oldIndex });
    }),
  );
  // Several changes: each socket's frames of the batch leave in one write, not one each.
  const cork = located.size > 1;
  if (cork) for (const ch of deps.broker.subscribed) ch.conn.socket.cork();
  try {
    for (const tx of txs) {
      for (const c of tx.changes) {
        const at = located.get(c);
        if (at) deliverChange(c, at, tx.commitTimestamp);
      }
    }
  } finally {
    if (cork) for (const ch of deps.broker.subscribed) ch.conn.socket.uncork();
  }
}

/** One change to every channel that may see it: each group's view once, each distinct frame encoded once. */
function deliverChange(c: RowChange, at: Located, commitTimestamp: string): void {
  const frames = new Map<string, Buffer>();
  for (const g of at.groups) {
    if (at.checked.suspended.has(g)) continue;
    const view = changeView(c, at, at.checked.visible.get(g));
    if (!view) continue;
    for (const a of g.alike) {
      const ids: number[] = [];
      for (const b of a.bindings) if (bindingTargets(b, c) && matchesFilters(b.filters, view.filterable)) ids.push(b.id);
      if (!ids.length) continue;
      const frameKey = `${a.vsn}\u0000${a.topic}\u0000${ids.join(',')}\u0000${view.variant}`;
      let frame = frames.get(frameKey);
      if (frame === undefined) {
        const msg = { join_ref: null, ref: null, topic: a.topic, event: 'postgres_changes', payload: { ids, data: { ...view.data, commit_timestamp: commitTimestamp } } };
        frames.set(frameKey, (frame = Buffer.from(encode(msg, a.vsn))));
      }
      for (const ch of a.channels) sendFrame(ch.conn, frame);
    }
  }
}

/**
 * What one claims group may learn of a change (docs/protocols.md §1.6; docs/realtime-changes.md):
 * - INSERT/UPDATE: nothing unless it may SELECT the new row as committed; then the row, and for
 *   UPDATE the old row if it may SELECT that too (REPLICA IDENTITY FULL), else the old key.
 * - DELETE: only the key, to every subscriber of the table (as Supabase). Filters see the whole
 *   old row only when the group may SELECT it, else only the key: a filter is never an oracle
 *   for values the subscriber cannot read.
 * - A table without a primary key (or replica identity index): an error instead of the row, to
 *   groups that may SELECT it.
 * undefined: nothing to deliver.
 */
function changeView(c: RowChange, at: Located, visible: Set<number> | undefined): { data: Record<string, unknown>; filterable: Record<string, unknown>; variant: string } | undefined {
  const { checked, newIndex, oldIndex } = at;
  const sees = (i: number) => i >= 0 && visible?.has(i) === true;
  const data: Record<string, unknown> = { schema: c.schema, table: c.table, type: c.type, columns: c.columns, errors: null };
  const keyOf = (i: number) => (i >= 0 ? checked.keys[i] : undefined);
  if (c.type === 'DELETE') {
    const key = keyOf(oldIndex);
    data.old_record = key ?? {};
    const oldVisible = sees(oldIndex);
    return { data, filterable: oldVisible ? checked.rendered[oldIndex] : (key ?? {}), variant: oldVisible ? 'o' : 'k' };
  }
  if (!sees(newIndex)) return undefined;
  const record = checked.rendered[newIndex];
  if (!keyOf(newIndex)) {
    data.record = {};
    data.errors = ['Error 400: Bad Request, no primary key'];
  } else data.record = record;
  if (c.type === 'UPDATE') {
    const oldVisible = sees(oldIndex);
    data.old_record = oldVisible ? checked.rendered[oldIndex] : (keyOf(oldIndex) ?? {});
    return { data, filterable: record, variant: oldVisible ? 'o' : 'k' };
  }
  return { data, filterable: record, variant: 'n' };
}
