/**
 * The SQL of `nextmavens.settings` (sql/0037_settings.sql): settings the admin dashboard edits and
 * the services read at use time, one JSON object per key. Owner pool only.
 */
import type pg from 'pg';

type Queryable = Pick<pg.Pool, 'query'>;

export type SettingValue = Record<string, unknown>;

/** The stored objects of `keys` (missing keys are absent). */
export async function readSettings(db: Queryable, keys: readonly string[]): Promise<Map<string, SettingValue>> {
  const { rows } = await db.query<{ key: string; value: SettingValue }>('select key, value from nextmavens.settings where key = any($1::text[])', [keys]);
  return new Map(rows.map((r) => [r.key, r.value]));
}

/** Stores `value` under `key` (replacing it), stamped with the writer. */
export async function writeSetting(db: Queryable, key: string, value: SettingValue, by: string | null): Promise<void> {
  await db.query(
    `insert into nextmavens.settings (key, value, updated_by) values ($1, $2::jsonb, $3)
     on conflict (key) do update set value = excluded.value, updated_at = now(), updated_by = excluded.updated_by`,
    [key, JSON.stringify(value), by],
  );
}
