/**
 * Database changes from a logical replication slot (pgoutput over the `nextmavens_realtime`
 * publication). Changes are buffered per transaction and handed over at commit; the commit's
 * LSN is acknowledged only after the handler's promise for it (and every earlier one) has
 * resolved, i.e. after fan-out, so nothing is lost across a restart (the slot replays
 * unacknowledged transactions) and nothing is skipped. Up to MAX_IN_FLIGHT transactions may be
 * awaiting fan-out at once, so the handler can batch them; a failed hand-over stops the stream,
 * which resumes from the slot (the last acknowledged LSN).
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import pg from 'pg';
import type { Logger } from 'pino';
import { ensureReplicationSlot, PUBLICATION, typeNames } from './db.ts';

const MAX_IN_FLIGHT = 1000;

/**
 * Column values exactly as the WAL carries them: Postgres's text form (or null). They are typed,
 * checked against RLS and rendered to JSON by Postgres itself (realtime.check_rows), never
 * parsed here: a JavaScript rendering of a value (a Date, a float) is not Postgres's.
 * An unchanged TOASTed value that the WAL does not repeat is absent (undefined).
 */
export type WalRow = Record<string, string | null | undefined>;

export interface RowChange {
  type: 'INSERT' | 'UPDATE' | 'DELETE';
  schema: string;
  table: string;
  columns: { name: string; type: string }[];
  /** The new row (INSERT, UPDATE). */
  record?: WalRow;
  /**
   * The old row (UPDATE, DELETE): every column under REPLICA IDENTITY FULL, else only the
   * replica identity's columns (pgoutput flags every column as "key" under FULL: the key of a
   * table is never taken from these flags, but from the catalog).
   */
  oldRecord?: WalRow;
}

export interface Transaction {
  /** 32-bit transaction id from the begin message. */
  xid: number;
  /** The commit's end LSN ('X/Y'): transactions arrive in increasing order of it. */
  lsn: string;
  commitTimestamp: string;
  changes: RowChange[];
}

/** An LSN ('16/B374D848') as a comparable number. */
export function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi || '0'}`) << 32n) | BigInt(`0x${lo || '0'}`);
}

/**
 * pgoutput with every column value kept as the text the WAL carries: the library parses values
 * with node-postgres's global type parsers (dates into Date, int8 left as text, …), which no
 * longer match Postgres's own text once they are rendered back.
 */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const msg = super.parse(buffer);
    if (msg.tag === 'relation') for (const column of msg.columns) column.parser = keepText;
    return msg;
  }
}
const keepText = (text: string) => text;

export interface ChangeStream {
  stop(): Promise<void>;
}

function commitTimestamp(commitTime: unknown): string {
  const n = Number(commitTime);
  const ms = n > 1e14 ? n / 1000 : n; // the library reports microseconds since the Unix epoch
  const date = new Date(ms);
  return (date.getUTCFullYear() > 2000 ? date : new Date()).toISOString();
}

/** Starts consuming `slot` (created if missing) and calls `onTransaction` for each commit. */
export async function startChangeStream(url: string, slot: string, log: Logger, onTransaction: (tx: Transaction) => Promise<void>): Promise<ChangeStream> {
  if (!/^[a-z0-9_]{1,63}$/.test(slot)) throw new Error(`invalid replication slot name: ${slot}`);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const types = new Map<number, string>();
  try {
    await ensureReplicationSlot(admin, slot);
    for (const [oid, name] of await typeNames(admin)) types.set(oid, name);
  } finally {
    await admin.end();
  }

  const service = new LogicalReplicationService(
    { connectionString: url },
    { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
  );
  const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [PUBLICATION] });
  let pending: RowChange[] = [];
  let xid = 0;
  let lastAcked: string | undefined;
  let stopped = false;
  let acks: Promise<void> = Promise.resolve();
  let inFlight = 0;
  /** Bumped when a hand-over fails: acknowledgements of the abandoned stream are dropped. */
  let generation = 0;

  const columnsOf = (rel: Pgoutput.MessageRelation) =>
    rel.columns.map((c) => ({ name: c.name, type: c.typeName ?? types.get(c.typeOid) ?? 'unknown' }));

  service.on('data', async (lsn: string, msg: Pgoutput.Message) => {
    switch (msg.tag) {
      case 'begin':
        pending = [];
        xid = msg.xid;
        return;
      case 'insert':
        pending.push({ type: 'INSERT', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), record: msg.new });
        return;
      case 'update':
        pending.push({ type: 'UPDATE', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), record: msg.new, oldRecord: msg.old ?? msg.key ?? undefined });
        return;
      case 'delete':
        pending.push({ type: 'DELETE', schema: msg.relation.schema, table: msg.relation.name, columns: columnsOf(msg.relation), oldRecord: msg.old ?? msg.key ?? {} });
        return;
      case 'commit': {
        const commitLsn = msg.commitEndLsn ?? lsn;
        const tx = { xid, lsn: commitLsn, commitTimestamp: commitTimestamp(msg.commitTime), changes: pending };
        pending = [];
        const gen = generation;
        const handed = tx.changes.length ? onTransaction(tx) : Promise.resolve();
        inFlight++;
        acks = acks.then(
          () => handed,
        ).then(
          async () => {
            inFlight--;
            if (gen !== generation) return;
            lastAcked = commitLsn;
            await service.acknowledge(commitLsn);
          },
          async (err) => {
            inFlight--;
            if (gen !== generation) return;
            // Not fanned out: acknowledge nothing more; reconnect so the slot replays it.
            generation++;
            log.warn({ err }, 'realtime: could not hand over a transaction; replaying from the slot');
            await service.stop().catch(() => undefined);
          },
        );
        while (inFlight >= MAX_IN_FLIGHT && gen === generation) await acks;
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
      generation++;
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
