/**
 * Realtime's SQL about replication: the slot it consumes and the publication it reads (the
 * private-channel policies are checked in realtime/authorization.ts, the committed-row checks in
 * db/committed-rows.ts).
 */
import type pg from 'pg';

/** The publication the stream reads (sql/0009_realtime.sql). */
export const PUBLICATION = 'nextmavens_realtime';

type Queryable = Pick<pg.Pool | pg.Client, 'query'>;

/** Creates the logical slot (pgoutput) unless it exists. */
export async function ensureReplicationSlot(db: Queryable, slot: string): Promise<void> {
  await db.query(`select pg_create_logical_replication_slot($1, 'pgoutput') where not exists (select from pg_replication_slots where slot_name = $1)`, [slot]);
}

/** Type names by oid, for decoding pgoutput's column types. */
export async function typeNames(db: Queryable): Promise<Map<number, string>> {
  const { rows } = await db.query<{ oid: number; typname: string }>(`select oid::int, typname from pg_type`);
  return new Map(rows.map((r) => [r.oid, r.typname]));
}

/**
 * Whether the slot is consistent: a slot being created is listed before it is (it waits for the
 * transactions running anywhere in the cluster); changes committed before that point are not decoded.
 */
export async function slotReady(db: Queryable, slot: string): Promise<boolean> {
  const { rowCount } = await db.query('select from pg_replication_slots where slot_name = $1 and confirmed_flush_lsn is not null', [slot]);
  return !!rowCount;
}

/** Whether the publication holds a table of `schema`.`table` (`*`: any). */
export async function published(db: Queryable, schema: string, table: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `select 1 from pg_publication_tables where pubname = $1 and ($2 = '*' or schemaname = $2) and ($3 = '*' or tablename = $3)`,
    [PUBLICATION, schema, table],
  );
  return !!rowCount;
}
