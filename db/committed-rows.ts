/**
 * RLS over rows as committed: one call of realtime.check_rows (sql/0016_realtime_committed_rows.sql)
 * on the owner pool, inside a read-only transaction that is always rolled back — for GraphQL
 * subscriptions (rows from their trigger) — or, for realtime (rows from the WAL), one statement of
 * realtime.check_changes (sql/0042_realtime_check_changes.sql), which also waits for the
 * transactions to be visible and names the groups of suspended tenants. See
 * docs/realtime-changes.md.
 */
import type pg from 'pg';
import { quoteQualified } from './identifiers.ts';

/** Bounds a check whose role has no statement_timeout of its own (policies run on the owner pool). */
const CHECK_TIMEOUT = '10s';

export interface CheckedRows {
  /** Each row as Postgres renders it (to_jsonb, only the columns given). */
  rendered: Record<string, unknown>[];
  /** Each row's primary key (else replica identity index) columns; undefined: the table has neither. */
  keys: (Record<string, unknown> | undefined)[];
  /** Per claims group (in the order given): the indexes of the rows it may SELECT. */
  visible: Set<number>[];
}

/**
 * `entity`: a quoted qualified table name or a table oid. `rows`: WAL text rows ('wal') or
 * composite literals ('record'). Throws when the check itself cannot run.
 */
export async function checkCommittedRows(pool: pg.Pool, entity: string | number, rows: unknown[], claims: Record<string, unknown>[], format: 'wal' | 'record' = 'wal'): Promise<CheckedRows> {
  const out: CheckedRows = { rendered: rows.map(() => ({})), keys: rows.map(() => undefined), visible: claims.map(() => new Set()) };
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // Policies run as each group on this owner connection: bound them as a request would be.
    // Values render in UTC, as Supabase's realtime connection does.
    await client.query(`begin read only; set local statement_timeout = '${CHECK_TIMEOUT}'; set local timezone = 'UTC'`);
    const { rows: result } = await client.query<{ claims_index: number; row_index: number; record: Record<string, unknown> | null; key: Record<string, unknown> | null }>(
      `select claims_index, row_index, record, key from realtime.check_rows(${typeof entity === 'number' ? '$1::oid::regclass' : '$1::regclass'}, $2::jsonb, $3::jsonb[], $4)`,
      [entity, JSON.stringify(rows), claims.map((c) => JSON.stringify(c)), format],
    );
    for (const r of result) {
      const i = r.row_index - 1;
      if (r.claims_index === 0) {
        out.rendered[i] = r.record ?? {};
        out.keys[i] = r.key ?? undefined;
      } else out.visible[r.claims_index - 1]?.add(i);
    }
  } finally {
    await client.query('rollback').catch((err: Error) => (broken = err));
    client.release(broken);
  }
  return out;
}

export interface CheckedChanges extends CheckedRows {
  /** Indexes (in the order given) of the groups whose tenant is suspended: they get nothing. */
  suspended: Set<number>;
}

/**
 * One table's changed rows from the WAL checked for `claims` (groups of subscribers) in one
 * statement: realtime.check_changes waits until the transactions `xids` are visible, then checks
 * as checkCommittedRows does, read-only and rolled back inside the call. `tenants[i]` is group
 * i's tenant claim (undefined: none). `db` bounds the statement's time (its connection's
 * statement_timeout). Throws when the check itself cannot run.
 */
export async function checkCommittedChanges(
  db: Pick<pg.Pool, 'query'>,
  entity: string,
  rows: unknown[],
  claims: Record<string, unknown>[],
  xids: number[],
  tenants: (string | undefined)[],
): Promise<CheckedChanges> {
  const out: CheckedChanges = { rendered: rows.map(() => ({})), keys: rows.map(() => undefined), visible: claims.map(() => new Set()), suspended: new Set() };
  const { rows: result } = await db.query<{ claims_index: number; row_index: number; record: Record<string, unknown> | null; key: Record<string, unknown> | null }>(
    'select claims_index, row_index, record, key from realtime.check_changes($1::regclass, $2::jsonb, $3::jsonb[], $4::bigint[], $5::text[])',
    [entity, JSON.stringify(rows), claims.map((c) => JSON.stringify(c)), xids, tenants.map((t) => t ?? null)],
  );
  for (const r of result) {
    const i = r.row_index - 1;
    if (r.claims_index === 0) {
      out.rendered[i] = r.record ?? {};
      out.keys[i] = r.key ?? undefined;
    } else if (i < 0) out.suspended.add(r.claims_index - 1);
    else out.visible[r.claims_index - 1]?.add(i);
  }
  return out;
}

/** A quoted `"schema"."table"` for checkCommittedRows. */
export const qualifiedName = quoteQualified;
