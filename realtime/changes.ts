/**
 * Database changes from a logical replication slot (pgoutput over the `nextmavens_realtime`
 * publication). Changes are buffered per transaction and handed over at commit; the commit's
 * LSN is acknowledged only after the handler has fanned them out, so nothing is lost across a
 * restart (the slot replays unacknowledged transactions) and nothing is skipped.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import pg from 'pg';
import type { Logger } from 'pino';

export const PUBLICATION = 'nextmavens_realtime';

export interface RowChange {
  type: 'INSERT' | 'UPDATE' | 'DELETE';
  schema: string;
  table: string;
  columns: { name: string; type: string }[];
  keyColumns: string[];
  record?: Record<string, unknown>;
  oldRecord?: Record<string, unknown>;
}

export interface Transaction {
  /** 32-bit transaction id from the begin message. */
  xid: number;
  commitTimestamp: string;
  changes: RowChange[];
}

export interface ChangeStream {
  stop(): Promise<void>;
}

function commitTimestamp(commitTime: unknown): string {
  const n = Number(commitTime);
  const ms = n > 1e14 ? n / 1000 : n; // the library reports microseconds since the Unix epoch
  const date = new Date(ms);
  return (date.getUTCFullYear() > 2000 ? date : new Date()).toISOString();
}

/**
 * Logical decoding can hand over a commit an instant before the transaction is visible to new
 * snapshots; RLS checks read the table, so wait (briefly) until it is. The 32-bit xid is widened
 * with the epoch of the current snapshot's xmax.
 */
export async function waitUntilVisible(db: pg.Pool, xid: number, timeoutMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await db.query<{ visible: boolean }>(
      `with x as (select pg_current_snapshot() as snap, pg_snapshot_xmax(pg_current_snapshot())::text::bigint as xmax),
            c as (select snap, xmax, (xmax & ~4294967295::bigint) | $1::bigint as full_xid from x)
       select pg_visible_in_snapshot((case when full_xid > xmax then full_xid - 4294967296 else full_xid end)::text::xid8, snap) as visible from c`,
      [xid],
    );
    if (rows[0]?.visible) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts consuming `slot` (created if missing) and calls `onTransaction` for each commit. */
export async function startChangeStream(url: string, slot: string, log: Logger, onTransaction: (tx: Transaction) => Promise<void>): Promise<ChangeStream> {
  if (!/^[a-z0-9_]{1,63}$/.test(slot)) throw new Error(`invalid replication slot name: ${slot}`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const typeNames = new Map<number, string>();
  try {
    await admin.query(
      `select pg_create_logical_replication_slot($1, 'pgoutput') where not exists (select from pg_replication_slots where slot_name = $1)`,
      [slot],
    );
    for (const r of (await admin.query<{ oid: number; typname: string }>(`select oid::int, typname from pg_type`)).rows) typeNames.set(r.oid, r.typname);
  } finally {
    await admin.end();
  }

  const service = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [PUBLICATION] });
  let pending: RowChange[] = [];
  let xid = 0;
  let lastAcked: string | undefined;
  let stopped = false;

  const columnsOf = (rel: Pgoutput.MessageRelation) =>
    rel.columns.map((c) => ({ name: c.name, type: c.typeName ?? typeNames.get(c.typeOid) ?? 'unknown' }));

  service.on('data', async (lsn: string, msg: Pgoutput.Message) => {
    switch (msg.tag) {
      case 'begin':
        pending = [];
        xid = msg.xid;
        return;
      case 'insert':
        pending.push({ type: 'INSERT', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), keyColumns: msg.relation.keyColumns, record: msg.new });
        return;
      case 'update':
        pending.push({ type: 'UPDATE', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), keyColumns: msg.relation.keyColumns, record: msg.new, oldRecord: msg.old ?? msg.key ?? undefined });
        return;
      case 'delete':
        pending.push({ type: 'DELETE', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), keyColumns: msg.relation.keyColumns, oldRecord: msg.old ?? msg.key ?? {} });
        return;
      case 'commit': {
        const tx = { xid, commitTimestamp: commitTimestamp(msg.commitTime), changes: pending };
        pending = [];
        if (tx.changes.length) await onTransaction(tx);
        lastAcked = msg.commitEndLsn ?? lsn;
        await service.acknowledge(lastAcked);
        return;
      }
      default:
        return;
    }
  });
  service.on('heartbeat', async (_lsn: string, _ts: number, shouldRespond: boolean) => {
    if (shouldRespond && lastAcked) await service.acknowledge(lastAcked);
  });
  service.on('error', (err: Error) => log.warn({ err }, 'realtime: replication stream error'));

  const run = async () => {
    while (!stopped) {
      try {
        await service.subscribe(plugin, slot, '0/00000000'); // resume from the slot's confirmed position
      } catch (err) {
        if (stopped) return;
        log.warn({ err }, 'realtime: replication stream ended; resuming');
      }
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
  return {
    async stop() {
      stopped = true;
      await service.stop().catch(() => undefined);
    },
  };
}
