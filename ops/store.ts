/**
 * All SQL of ops/: what the database says about itself (connections, size, replication slots,
 * jobs, stored objects) and the alert records of sql/0018_ops_alerts.sql. Run on the owner pool;
 * every value is a parameter.
 */
import type pg from 'pg';

export interface DatabaseStats {
  /** Backends of this database by state (active, idle, idle in transaction, …). */
  connections: Record<string, number>;
  sizeBytes: number;
  /** Replication slots of this database and the WAL each retains, in bytes. */
  slots: { name: string; active: boolean; lagBytes: number }[];
  /** Undefined when this login may not read storage.objects. */
  storage?: { objects: number; bytes: number };
  /** Undefined when graphile-worker's schema is not installed yet, or this login may not read it. */
  jobs?: { queued: number; failed: number };
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Whether the login may select from the table named by two parameters (false or null otherwise; never "permission denied"). */
const readable = (schema: string, table: string) =>
  `select has_schema_privilege(n.oid, 'usage') and has_table_privilege(c.oid, 'select') from pg_catalog.pg_class c
     join pg_catalog.pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema} and c.relname = ${table}`;

export async function readDatabaseStats(db: Queryable): Promise<DatabaseStats> {
  // A service logged in as its own role (compose, sql/0028) may not read storage.objects or the
  // job queue: those figures are then left out (the gateway's, as the owner, has them), not the
  // whole scrape. Privileges are checked for a query as a whole, hence separate queries.
  const { rows } = await db.query<{ connections: Record<string, number>; size: string; slots: DatabaseStats['slots']; has_objects: boolean | null; has_jobs: boolean | null }>(`
    select
      (select coalesce(jsonb_object_agg(s.state, s.n), '{}') from (
         select coalesce(state, 'unknown') as state, count(*)::int as n from pg_stat_activity where datname = current_database() group by 1) s) as connections,
      pg_database_size(current_database()) as size,
      (select coalesce(jsonb_agg(jsonb_build_object('name', slot_name, 'active', active,
         'lagBytes', coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint) order by slot_name), '[]')
         from pg_replication_slots where database = current_database()) as slots,
      (${readable('$1', '$2')}) as has_objects,
      (${readable('$3', '$4')}) as has_jobs`, ['storage', 'objects', 'graphile_worker', 'jobs']);
  const r = rows[0];
  const stats: DatabaseStats = {
    connections: r.connections,
    sizeBytes: Number(r.size),
    slots: r.slots.map((s) => ({ ...s, lagBytes: Number(s.lagBytes) })),
  };
  if (r.has_objects) {
    const objects = await db.query<{ objects: string; bytes: string }>(
      `select count(*) as objects, coalesce(sum((metadata ->> 'size')::bigint), 0) as bytes from storage.objects`,
    );
    stats.storage = { objects: Number(objects.rows[0].objects), bytes: Number(objects.rows[0].bytes) };
  }
  if (r.has_jobs) {
    const jobs = await db.query<{ queued: number; failed: number }>(
      `select count(*) filter (where attempts < max_attempts)::int as queued, count(*) filter (where attempts >= max_attempts)::int as failed from graphile_worker.jobs`,
    );
    stats.jobs = jobs.rows[0];
  }
  return stats;
}

export interface FailedJob {
  id: string;
  task: string;
  attempts: number;
  lastError: string | null;
  updatedAt: Date;
}

/** The graphile-worker task that delivers alerts: its own failures are not alerted (no loop). */
export const ALERT_TASK = 'ops_alert';

/**
 * Jobs that failed their last attempt, newest first; `unalerted`: only those that failed within
 * the last hour and no alert names yet (a database with old failures does not flood at first start).
 */
export async function failedJobs(db: Queryable, opts: { unalerted?: boolean; limit: number }): Promise<FailedJob[]> {
  const exists = await db.query<{ ok: boolean }>(`select to_regclass('graphile_worker.jobs') is not null as ok`);
  if (!exists.rows[0].ok) return [];
  const { rows } = await db.query<{ id: string; task: string; attempts: number; last_error: string | null; updated_at: Date }>(
    `select j.id::text, j.task_identifier as task, j.attempts, j.last_error, j.updated_at
       from graphile_worker.jobs j
      where j.attempts >= j.max_attempts and j.task_identifier <> $1
        and (not $2 or (j.updated_at > now() - interval '1 hour'
             and not exists (select 1 from nextmavens.alerts a where a.kind = 'event' and a.rule = 'job_failed' and a.key = j.id::text)))
      order by j.id desc limit $3`,
    [ALERT_TASK, opts.unalerted ?? false, opts.limit],
  );
  return rows.map((r) => ({ id: r.id, task: r.task, attempts: r.attempts, lastError: r.last_error, updatedAt: r.updated_at }));
}

export type Severity = 'critical' | 'warning' | 'info';

export interface AlertRecord {
  id: string;
  rule: string;
  key: string;
  kind: 'condition' | 'event';
  severity: Severity;
  summary: string;
  details: Record<string, unknown>;
  started_at: Date;
  resolved_at: Date | null;
}

export interface NewAlert {
  rule: string;
  key: string;
  severity: Severity;
  summary: string;
  details?: Record<string, unknown>;
}

const COLUMNS = 'id::text, rule, key, kind, severity, summary, details, started_at, resolved_at';

/** Opens a condition; undefined when it is already open (another instance, or an earlier tick, opened it). */
export async function openCondition(c: pg.PoolClient, a: NewAlert): Promise<AlertRecord | undefined> {
  const { rows } = await c.query<AlertRecord>(
    `insert into nextmavens.alerts (rule, key, kind, severity, summary, details) values ($1, $2, 'condition', $3, $4, $5)
     on conflict (rule, key) where kind = 'condition' and resolved_at is null do nothing returning ${COLUMNS}`,
    [a.rule, a.key, a.severity, a.summary, a.details ?? {}],
  );
  return rows[0];
}

/** Resolves an open condition; undefined when none was open. */
export async function resolveCondition(c: pg.PoolClient, rule: string, key: string): Promise<AlertRecord | undefined> {
  const { rows } = await c.query<AlertRecord>(
    `update nextmavens.alerts set resolved_at = now() where kind = 'condition' and rule = $1 and key = $2 and resolved_at is null returning ${COLUMNS}`,
    [rule, key],
  );
  return rows[0];
}

/** A condition that started and resolved while the database could not record it (the database outage). */
export async function recordEpisode(c: pg.PoolClient, a: NewAlert, startedAt: Date): Promise<AlertRecord> {
  const { rows } = await c.query<AlertRecord>(
    `insert into nextmavens.alerts (rule, key, kind, severity, summary, details, started_at, resolved_at)
     values ($1, $2, 'condition', $3, $4, $5, $6, now()) returning ${COLUMNS}`,
    [a.rule, a.key, a.severity, a.summary, a.details ?? {}, startedAt],
  );
  return rows[0];
}

/** Records an event once per (rule, key); undefined when it was recorded before. */
export async function recordEvent(c: pg.PoolClient, a: NewAlert): Promise<AlertRecord | undefined> {
  const { rows } = await c.query<AlertRecord>(
    `insert into nextmavens.alerts (rule, key, kind, severity, summary, details, resolved_at) values ($1, $2, 'event', $3, $4, $5, now())
     on conflict (rule, key) where kind = 'event' do nothing returning ${COLUMNS}`,
    [a.rule, a.key, a.severity, a.summary, a.details ?? {}],
  );
  return rows[0];
}

export async function openConditions(db: Queryable): Promise<{ rule: string; key: string }[]> {
  const { rows } = await db.query<{ rule: string; key: string }>(`select rule, key from nextmavens.alerts where kind = 'condition' and resolved_at is null`);
  return rows;
}

export async function recentAlerts(db: Queryable, limit: number): Promise<AlertRecord[]> {
  const { rows } = await db.query<AlertRecord>(`select ${COLUMNS} from nextmavens.alerts order by started_at desc, id desc limit $1`, [limit]);
  return rows;
}

/** Queues one delivery job (graphile-worker retries it with back-off) in the caller's transaction. */
export async function enqueueDelivery(c: pg.PoolClient, payload: unknown): Promise<void> {
  await c.query(`select graphile_worker.add_job($1, $2::json, max_attempts := 12)`, [ALERT_TASK, JSON.stringify(payload)]);
}

/** Runs `fn` in one transaction on a client of `pool`. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('begin');
    const result = await fn(c);
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
