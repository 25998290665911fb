/**
 * The SQL editor's runner. Statements that destroy (DROP, TRUNCATE, DELETE or UPDATE without
 * WHERE, ALTER … DROP) run only when the request confirms them. A read_only admin's SQL runs on
 * the login of nextmavens_admin_read (admin/reader.ts: reads everything, RLS still applies, owns
 * nothing), in a READ ONLY transaction, as one statement (the extended protocol); EXPLAIN too.
 * The others' SQL may hold several statements and runs as the owner. Every value comes back
 * in Postgres's text form (no JavaScript conversions), at most MAX_ROWS rows a result.
 */
import type pg from 'pg';
import { AdminError } from './errors.ts';
import { singleStatement } from './table-store.ts';
import type { AdminRole } from './store.ts';

export const MAX_ROWS = 1000;
const STATEMENT_TIMEOUT_MS = 60_000;

/** The SQL with comments, string literals, quoted identifiers and dollar-quoted bodies blanked, so keywords are found only where they are keywords. */
function code(sql: string): string {
  return sql
    .replace(/\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$/g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '""')
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ');
}

/** Why each destructive statement of `sql` needs a confirmation (empty: none does). */
export function destructiveStatements(sql: string): string[] {
  const reasons: string[] = [];
  for (const raw of code(sql).split(';')) {
    const s = raw.trim().replace(/\s+/g, ' ');
    if (!s) continue;
    const head = s.slice(0, 80);
    if (/^(with\b.*\)\s*)?drop\b/i.test(s)) reasons.push(`DROP: ${head}`);
    else if (/^truncate\b/i.test(s)) reasons.push(`TRUNCATE: ${head}`);
    else if (/^(with\b.*\)\s*)?delete\s+from\b/i.test(s) && !/\bwhere\b/i.test(s)) reasons.push(`DELETE without WHERE: ${head}`);
    else if (/^(with\b.*\)\s*)?update\b/i.test(s) && !/\bwhere\b/i.test(s)) reasons.push(`UPDATE without WHERE: ${head}`);
    else if (/^alter\b.*\bdrop\b/i.test(s)) reasons.push(`ALTER … DROP: ${head}`);
  }
  return reasons;
}

export interface SqlResult {
  command: string;
  rowCount: number | null;
  columns: { name: string; typeOid: number }[];
  rows: (string | null)[][];
  truncated: boolean;
}

/** Every type as its text form. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** The owner's pool, and the read-only login's (admin/reader.ts). */
export interface SqlPools {
  owner: pg.Pool;
  reader(): Promise<pg.Pool>;
}

/** Runs `sql` for an admin of `role`; the results of every statement, in order. */
export async function runSql(pools: SqlPools, sql: string, role: AdminRole, o: { confirm?: boolean; explain?: boolean } = {}): Promise<SqlResult[]> {
  if (typeof sql !== 'string' || !sql.trim()) throw new AdminError('validation_failed', 400, 'No SQL to run');
  if (!o.explain && role !== 'read_only') {
    const reasons = destructiveStatements(sql);
    if (reasons.length && !o.confirm) throw new AdminError('confirmation_required', 409, 'This SQL destroys data or objects: confirm to run it', { statements: reasons });
  }
  const readOnly = role === 'read_only';
  const client = await (readOnly ? await pools.reader() : pools.owner).connect();
  try {
    await client.query(readOnly || o.explain ? 'begin read only' : 'begin');
    await client.query("select set_config('statement_timeout', $1, true)", [String(STATEMENT_TIMEOUT_MS)]);
    const text = o.explain ? `explain (format json, verbose) ${sql.trim().replace(/;\s*$/, '')}` : sql;
    const single = readOnly || o.explain;
    const config: pg.QueryConfig = single ? singleStatement(text) : { text };
    const answer = (await client.query({ ...config, rowMode: 'array', types: TEXT_TYPES } as pg.QueryArrayConfig)) as unknown as pg.QueryArrayResult | pg.QueryArrayResult[];
    await client.query('commit').catch(() => undefined); // the SQL may have ended the transaction itself
    return (Array.isArray(answer) ? answer : [answer]).map((r) => ({
      command: r.command,
      rowCount: r.rowCount,
      columns: (r.fields ?? []).map((f) => ({ name: f.name, typeOid: f.dataTypeID })),
      rows: (r.rows ?? []).slice(0, MAX_ROWS) as (string | null)[][],
      truncated: (r.rows?.length ?? 0) > MAX_ROWS,
    }));
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    // The SQL may have changed its session (SET ROLE, which RESET ALL leaves alone; temp tables,
    // LISTEN, prepared statements): the connection is closed, never handed to the pool's next user.
    client.release(true);
  }
}
