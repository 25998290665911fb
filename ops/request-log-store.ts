/**
 * The SQL of nextmavens.request_log (sql/0036_request_log.sql): a batch of the gateway's request
 * log entries in one INSERT, the periodic prune to REQUEST_LOG_RETENTION_HOURS / REQUEST_LOG_MAX_ROWS,
 * and the admin dashboard's filtered, newest-first pages.
 */
import type pg from 'pg';

/** One request as stored: gateway/request-log.ts's fields and when it arrived. */
export interface RequestLogEntry {
  at: Date;
  reqId: string;
  method: string;
  /** Already redacted (gateway/request-log.ts redactUrl). */
  url: string;
  route: string;
  service?: string;
  group?: string;
  status: number;
  ms: number;
  role?: string;
  tenant?: string;
  user?: string;
  ip?: string;
}

type Queryable = Pick<pg.Pool, 'query'>;

const COLUMNS: [string, string, (e: RequestLogEntry) => unknown][] = [
  ['at', 'timestamptz', (e) => e.at],
  ['request_id', 'text', (e) => e.reqId],
  ['method', 'text', (e) => e.method],
  ['path', 'text', (e) => e.url],
  ['service', 'text', (e) => e.service ?? null],
  ['route', 'text', (e) => e.route],
  ['route_group', 'text', (e) => e.group ?? null],
  ['status', 'smallint', (e) => e.status],
  ['duration_ms', 'real', (e) => e.ms],
  ['role', 'text', (e) => e.role ?? null],
  ['tenant_id', 'text', (e) => e.tenant ?? null],
  ['user_id', 'text', (e) => e.user ?? null],
  ['ip', 'text', (e) => e.ip ?? null],
];

const INSERT = `insert into nextmavens.request_log (${COLUMNS.map(([c]) => c).join(', ')})
  select ${COLUMNS.map(([, type], i) => `(e->>${i})::${type}`).join(', ')} from jsonb_array_elements($1::jsonb) as e`;

/**
 * The entries in one statement: one JSON array with an array of the columns' values per entry.
 * Per entry (a 500-entry batch, Node and Postgres together): ~8 µs, against ~12 µs for 13 pg text
 * arrays (escaped value by value in JavaScript) or json_to_recordset of objects, and ~20 µs
 * for `json` (not `jsonb`), whose `->>` parses the element again for every column.
 */
export async function insertRequestLog(db: Queryable, entries: readonly RequestLogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((e) => COLUMNS.map(([, , get]) => get(e)));
  let json = JSON.stringify(rows);
  // A lone surrogate is written as `\udXXX`, which Postgres refuses in text: such an entry's text
  // is made well-formed first (U+FFFD, as pg's UTF-8 encoding of a parameter did).
  if (/\\ud[89a-f]/i.test(json)) json = JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'string' ? v.toWellFormed() : v));
  await db.query(INSERT, [json]);
}

/** Deletes entries older than `retentionHours` and all but the newest `maxRows`; the count removed. */
export async function pruneRequestLog(db: Queryable, retentionHours: number, maxRows: number): Promise<number> {
  const res = await db.query(
    `delete from nextmavens.request_log
      where at < now() - make_interval(hours => $1::int)
         or id <= (select max(id) from nextmavens.request_log) - $2::bigint`,
    [retentionHours, maxRows],
  );
  return res.rowCount ?? 0;
}

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface RequestLogFilter {
  service?: string;
  status?: StatusClass;
  method?: string;
  /** A substring of the stored (redacted) URL. */
  pathContains?: string;
  role?: string;
  tenant?: string;
  from?: Date;
  to?: Date;
  /** Entries with an id below this one (the next page). */
  before?: string;
  limit: number;
}

export interface RequestLogRow {
  id: string;
  at: Date;
  request_id: string;
  method: string;
  path: string;
  service: string | null;
  route: string;
  route_group: string | null;
  status: number;
  duration_ms: number;
  role: string | null;
  tenant_id: string | null;
  user_id: string | null;
  ip: string | null;
}

/** Newest first; every filter a parameter. */
export async function requestLogPage(db: Queryable, f: RequestLogFilter): Promise<RequestLogRow[]> {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (sql: (p: string) => string, value: unknown) => {
    values.push(value);
    where.push(sql(`$${values.length}`));
  };
  if (f.service) add((p) => `service = ${p}`, f.service);
  if (f.status) add((p) => `status / 100 = ${p}::int`, Number(f.status[0]));
  if (f.method) add((p) => `method = ${p}`, f.method.toUpperCase());
  if (f.pathContains) add((p) => `strpos(path, ${p}) > 0`, f.pathContains);
  if (f.role) add((p) => `role = ${p}`, f.role);
  if (f.tenant) add((p) => `tenant_id = ${p}`, f.tenant);
  if (f.from) add((p) => `at >= ${p}`, f.from);
  if (f.to) add((p) => `at < ${p}`, f.to);
  if (f.before) add((p) => `id < ${p}::bigint`, f.before);
  values.push(f.limit);
  const res = await db.query<RequestLogRow>(
    `select id::text, at, request_id, method, path, service, route, route_group, status, duration_ms, role, tenant_id, user_id, ip
       from nextmavens.request_log ${where.length ? `where ${where.join(' and ')}` : ''}
      order by id desc limit $${values.length}`,
    values,
  );
  return res.rows;
}
