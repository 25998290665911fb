/**
 * Who gets what of a batch of database changes (docs/realtime-changes.md): each table's rows of
 * the batch are checked and rendered by Postgres in one round trip for every claims group of
 * this instance's subscribers (db/committed-rows.ts, over the rows as committed), then each
 * channel gets the view of each change its group may see, filtered by its bindings, in commit
 * order. Frames identical for several channels are encoded once.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { JwtClaims } from '../core/jwt.ts';
import { checkCommittedRows, qualifiedName, type CheckedRows } from '../db/committed-rows.ts';
import { claimedTenant, suspendedAmong } from '../db/tenants.ts';
import { waitUntilVisible, type RowChange, type Transaction, type WalRow } from './changes.ts';
import type { ChannelBroker } from './channels.ts';
import { sendFrame, type Binding, type Channel } from './connection.ts';
import { matchesFilters } from './filters.ts';
import { encode } from './phoenix.ts';

export interface DeliveryDeps {
  admin: pg.Pool;
  broker: ChannelBroker;
  log: Logger;
}

/**
 * SQL statements the delivery of changes has sent (the RLS check, the visibility wait, the
 * suspended-tenant lookup) and the changes it checked: bench/realtime.ts prints their ratio.
 */
export const deliveryStats = { statements: 0, changes: 0 };

const statementsIn = (sql: unknown) => (typeof sql === 'string' ? sql.split(';').filter((s) => s.trim()).length : 1);
/** `db` with every statement it sends counted in deliveryStats. */
function counted<T extends object>(db: T): T {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'query') return (q: unknown, ...rest: unknown[]) => ((deliveryStats.statements += statementsIn((q as { text?: string })?.text ?? q)), (target as any).query(q, ...rest));
      if (prop === 'connect') return async () => counted(await (target as any).connect());
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** Does `b` ask for changes of this kind on this table? (Its filters are applied to what the subscriber may see.) */
export const bindingTargets = (b: Binding, c: RowChange) =>
  (b.schema === '*' || b.schema === c.schema) && (b.table === '*' || b.table === c.table) && (b.event === '*' || b.event === c.type);

/**
 * One table's changed rows of a batch, checked and rendered by Postgres: each row as Postgres
 * renders it, its key, and which rows each claims group may SELECT. Every new and old row the
 * WAL carries is one entry. Policies are evaluated over the values as committed, so a row a
 * later transaction changed or deleted before this check is judged as it was, not dropped
 * (docs/realtime-changes.md).
 */
interface CheckedTable extends Omit<CheckedRows, 'visible'> {
  /** Per claims group key: the indexes of the rows it may SELECT. */
  visible: Map<string, Set<number>>;
}

async function checkRows(deps: DeliveryDeps, schema: string, table: string, rows: WalRow[], groups: Map<string, JwtClaims>): Promise<CheckedTable> {
  const groupKeys = [...groups.keys()];
  try {
    const checked = await checkCommittedRows(deps.admin, qualifiedName(schema, table), rows, [...groups.values()]);
    return { ...checked, visible: new Map(groupKeys.map((k, i) => [k, checked.visible[i]])) };
  } catch (err) {
    deps.log.warn({ err }, 'realtime: visibility check failed; not delivering');
    return { rendered: rows.map(() => ({})), keys: rows.map(() => undefined), visible: new Map() };
  }
}

/** Where a change's rows sit in its table's CheckedTable. */
interface Located {
  checked: CheckedTable;
  newIndex: number;
  oldIndex: number;
}

/** Delivers a batch of transactions, in commit order, to this instance's subscribers. */
export async function deliverChanges(deps: DeliveryDeps, txs: Transaction[]): Promise<void> {
  deps = { ...deps, admin: counted(deps.admin) };
  let subscribers = deps.broker.channels().filter((ch) => ch.bindings.length);
  if (!subscribers.length) return;
  // A suspended tenant's subscribers receive nothing (sql/0026_tenant_rbac.sql): one lookup per batch.
  const tenants = subscribers.map((ch) => claimedTenant(ch.claims)).filter((t): t is string => t !== undefined);
  if (tenants.length) {
    const suspended = await suspendedAmong(deps.admin, tenants).catch((err: unknown) => {
      deps.log.warn({ err }, 'realtime: tenant status check failed; not delivering');
      return undefined;
    });
    if (!suspended) return;
    if (suspended.size) subscribers = subscribers.filter((ch) => !suspended.has(claimedTenant(ch.claims) ?? ''));
    if (!subscribers.length) return;
  }
  // Policies may read other tables written by the same transaction (memberships): those reads
  // must see it committed.
  await waitUntilVisible(deps.admin, txs.map((tx) => tx.xid));
  const claimsKeys = new Map<Channel, string>(subscribers.map((ch) => [ch, JSON.stringify(ch.claims)]));
  // Per table: its rows (new and old) and the claims groups subscribed to any of its changes.
  const tables = new Map<string, { schema: string; table: string; rows: WalRow[]; groups: Map<string, JwtClaims>; changes: { c: RowChange; newIndex: number; oldIndex: number }[] }>();
  for (const c of txs.flatMap((tx) => tx.changes)) {
    const wanted = subscribers.filter((ch) => ch.bindings.some((b) => bindingTargets(b, c)));
    if (!wanted.length) continue;
    const name = `${c.schema}.${c.table}`;
    let t = tables.get(name);
    if (!t) tables.set(name, (t = { schema: c.schema, table: c.table, rows: [], groups: new Map(), changes: [] }));
    for (const ch of wanted) t.groups.set(claimsKeys.get(ch)!, ch.claims);
    const newIndex = c.record ? t.rows.push(c.record) - 1 : -1;
    const oldIndex = c.oldRecord ? t.rows.push(c.oldRecord) - 1 : -1;
    t.changes.push({ c, newIndex, oldIndex });
  }
  for (const t of tables.values()) deliveryStats.changes += t.changes.length;
  const located = new Map<RowChange, Located>();
  await Promise.all(
    [...tables.values()].map(async (t) => {
      const checked = await checkRows(deps, t.schema, t.table, t.rows, t.groups);
      for (const { c, newIndex, oldIndex } of t.changes) located.set(c, { checked, newIndex, oldIndex });
    }),
  );
  for (const tx of txs) {
    for (const c of tx.changes) {
      const at = located.get(c);
      if (!at) continue;
      // Frames are identical for every channel of one topic, binding set and view of the row: encode once.
      const frames = new Map<string, string>();
      for (const ch of subscribers) {
        const view = changeView(c, at, at.checked.visible.get(claimsKeys.get(ch)!));
        if (!view) continue;
        const ids = ch.bindings.filter((b) => bindingTargets(b, c) && matchesFilters(b.filters, view.filterable)).map((b) => b.id);
        if (!ids.length) continue;
        const frameKey = `${ch.conn.vsn}\u0000${ch.topic}\u0000${ids.join(',')}\u0000${view.variant}`;
        let frame = frames.get(frameKey);
        if (frame === undefined) {
          frame = encode({ join_ref: null, ref: null, topic: ch.topic, event: 'postgres_changes', payload: { ids, data: { ...view.data, commit_timestamp: tx.commitTimestamp } } }, ch.conn.vsn);
          frames.set(frameKey, frame);
        }
        sendFrame(ch.conn, frame);
      }
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
