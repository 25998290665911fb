/**
 * The audit log's SQL (the `audit` schema, sql/0027_audit.sql), over the owner connection: the
 * entries in their hashed text forms, page by page in chain order; the anchor; the prune.
 */
import type pg from 'pg';
import type { ChainEntry, ChainStart } from './chain.ts';

export type Db = pg.Pool | pg.ClientBase;

const PAGE = 1000;

/** The columns as audit.canonical() reads them (the timestamp in UTC with microseconds). */
const COLUMNS = `e.id::text as id, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
  tenant_id::text as tenant_id, actor_id, actor_role, action, target, detail::text as detail, ip, prev_hash, hash`;

/** Entries with after < id <= through, in id order, fetched a page at a time. */
export async function* entries(db: Db, opts: { after?: number; through?: number } = {}): AsyncIterable<ChainEntry> {
  let after = opts.after ?? 0;
  for (;;) {
    const { rows } = await db.query<ChainEntry>(
      // Ordered by the bigint column (the output column `id` is its text).
      `select ${COLUMNS} from audit.entries e where e.id > $1 and ($2::bigint is null or e.id <= $2) order by e.id limit ${PAGE}`,
      [after, opts.through ?? null],
    );
    yield* rows;
    if (rows.length < PAGE) return;
    after = Number(rows[rows.length - 1].id);
  }
}

/** Where the stored chain starts: retention's anchor, or undefined (the genesis). */
export async function anchor(db: Db): Promise<(ChainStart & { at: Date }) | undefined> {
  const { rows } = await db.query<{ last_id: string; last_hash: string; last_at: Date }>('select last_id, last_hash, last_at from audit.anchor');
  return rows[0] ? { id: Number(rows[0].last_id), hash: rows[0].last_hash, at: rows[0].last_at } : undefined;
}

/** The last entry written before `before`, or undefined. */
export async function lastEntryBefore(db: Db, before: Date): Promise<number | undefined> {
  const { rows } = await db.query<{ id: string | null }>('select max(id)::text as id from audit.entries where at < $1', [before]);
  return rows[0].id === null ? undefined : Number(rows[0].id);
}

/** Removes the entries up to `throughId` and moves the anchor to it (audit.prune). */
export async function prune(db: Db, throughId: number): Promise<number> {
  const { rows } = await db.query<{ removed: string }>('select audit.prune($1) as removed', [throughId]);
  return Number(rows[0].removed);
}
