/**
 * postgres_changes fan-out: the replication stream's transactions (changes.ts), taken by the
 * leader (leader.ts) and published to the other instances (bus.ts), are dispatched here in
 * commit order, in batches of whatever queued up while the previous batch was being checked.
 * Each table's rows of a batch are checked and rendered by Postgres in one round trip for all
 * claims groups of this instance's subscribers (db/committed-rows.ts), then each subscriber
 * gets what it may see (docs/realtime-changes.md). A transaction's LSN is acknowledged only
 * after its hand-over resolved, so nothing is lost across a restart.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import type { JwtClaims } from '../gateway/jwt.ts';
import { checkCommittedRows, qualifiedName, type CheckedRows } from '../db/committed-rows.ts';
import type { Bus } from './bus.ts';
import { lsnValue, PUBLICATION, startChangeStream, waitUntilVisible, type RowChange, type Transaction, type WalRow } from './changes.ts';
import type { ChannelBroker } from './channels.ts';
import { sendFrame, type Binding, type Channel } from './connection.ts';
import { matchesFilters } from './filters.ts';
import { electLeader, type Leadership } from './leader.ts';
import { encode } from './phoenix.ts';

export interface ChangeFanoutDeps {
  /** Owner connection URL (the replication stream, the leader lock). */
  url: string;
  slot: string;
  admin: pg.Pool;
  broker: ChannelBroker;
  bus: Bus;
  log: Logger;
}

export interface ChangeFanout {
  /** Starts competing for the slot (at once when clustered; on first use when alone). */
  campaign(): Leadership;
  /** Whether this instance consumes the slot now. */
  isLeader(): boolean;
  /** Resolves once the slot exists and is consistent (changes committed from then on are delivered). */
  replicationReady(timeoutMs?: number): Promise<void>;
  /** Every table a binding names is in the publication (schema-wide bindings: any table). */
  subscribable(bindings: Binding[]): Promise<boolean>;
  /** Queues a transaction (from the stream or another instance) for delivery here. */
  enqueue(tx: Transaction): Promise<void>;
  /** Stops consuming the slot and waits for deliveries under way. */
  close(): Promise<void>;
}

export function createChangeFanout(deps: ChangeFanoutDeps): ChangeFanout {
  const slot = deps.slot;
  let leadership: Leadership | undefined;
  /** Starts competing for the slot (at once when clustered; on first use when alone). */
  const campaign = () =>
    (leadership ??= electLeader({
      url: deps.url,
      name: slot,
      log: deps.log,
      onElected: async () => {
        const stream = await startChangeStream(deps.url, slot, deps.log, handOver);
        return () => stream.stop();
      },
    }));

  /** Resolves once the slot exists and is consistent (changes committed from then on are delivered). */
  async function replicationReady(timeoutMs = 15_000): Promise<void> {
    campaign();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // A slot being created is listed before it is consistent (it waits for the transactions
      // running anywhere in the cluster); changes committed before that point are not decoded.
      const { rowCount } = await deps.admin.query('select from pg_replication_slots where slot_name = $1 and confirmed_flush_lsn is not null', [slot]);
      if (rowCount) return;
      if (Date.now() > deadline) throw new Error(`replication slot ${slot} was not created in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The leader's handler: deliver here and publish to the others; the LSN is acked after both. */
  async function handOver(tx: Transaction): Promise<void> {
    await Promise.all([enqueue(tx), deps.bus.clustered ? publishTx(tx) : undefined]);
  }

  async function publishTx(tx: Transaction): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await deps.bus.publish({ t: 'tx', tx });
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
  }

  // Transactions are dispatched in commit order, in batches of whatever has queued up while the
  // previous batch was being checked (one visibility check per table and batch). One already
  // delivered (a new leader replays what the old one published but had not acknowledged) is
  // skipped.
  let delivered = 0n;
  let waiting: { tx: Transaction; done: () => void; failed: (err: unknown) => void }[] = [];
  let draining: Promise<void> | undefined;
  const MAX_BATCH = 200;
  function enqueue(tx: Transaction): Promise<void> {
    return new Promise<void>((done, failed) => {
      waiting.push({ tx, done, failed });
      draining ??= drain().finally(() => (draining = undefined));
    });
  }
  async function drain(): Promise<void> {
    while (waiting.length) {
      const batch = waiting.slice(0, MAX_BATCH);
      waiting = waiting.slice(batch.length);
      try {
        const fresh: Transaction[] = [];
        for (const { tx } of batch) {
          const lsn = lsnValue(tx.lsn); // (throws on a malformed message from the bus)
          if (lsn > delivered) {
            delivered = lsn;
            fresh.push(tx);
          }
        }
        if (fresh.length) await dispatch(fresh);
        for (const w of batch) w.done();
      } catch (err) {
        deps.log.error({ err }, 'realtime: dispatch failed');
        for (const w of batch) w.failed(err);
      }
    }
  }

  /** Every table a binding names is in the publication (schema-wide bindings: any table). */
  async function subscribable(bindings: Binding[]): Promise<boolean> {
    for (const b of bindings) {
      const { rowCount } = await deps.admin.query(
        `select 1 from pg_publication_tables where pubname = $1 and ($2 = '*' or schemaname = $2) and ($3 = '*' or tablename = $3)`,
        [PUBLICATION, b.schema, b.table],
      );
      if (!rowCount) return false;
    }
    return true;
  }

  /** Does `b` ask for changes of this kind on this table? (Its filters are applied to what the subscriber may see.) */
  const bindingTargets = (b: Binding, c: RowChange) =>
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

  async function checkRows(schema: string, table: string, rows: WalRow[], groups: Map<string, JwtClaims>): Promise<CheckedTable> {
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

  async function dispatch(txs: Transaction[]): Promise<void> {
    const subscribers = deps.broker.channels().filter((ch) => ch.bindings.length);
    if (!subscribers.length) return;
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
    const located = new Map<RowChange, Located>();
    await Promise.all(
      [...tables.values()].map(async (t) => {
        const checked = await checkRows(t.schema, t.table, t.rows, t.groups);
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
   * What one claims group may learn of a change (protocols.md §1.6; docs/realtime-changes.md):
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

  return {
    campaign,
    isLeader: () => leadership?.isLeader() ?? false,
    replicationReady,
    subscribable,
    enqueue,
    async close() {
      await leadership?.stop();
      await draining;
    },
  };
}
