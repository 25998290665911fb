/**
 * Reads on streaming replicas (DATABASE_READ_URL): which pool of the `authenticator` role a
 * read-only request runs on. A replica is used while it answers and its replay lag is within
 * READ_REPLICA_MAX_LAG; otherwise the next replica, and finally the primary's request pool.
 *
 * The lag is measured on the replica itself, the usual way: 0 when everything it received is
 * replayed, else the age of the last replayed transaction. It is cached for
 * READ_REPLICA_CHECK_INTERVAL, so a request pays for a probe at most once per interval and
 * replica, and a probe gives up after PROBE_TIMEOUT_MS. A request whose replica connection fails
 * before it got an answer is run again on the primary (a read-only transaction: nothing to undo),
 * and the replica is skipped until its next probe.
 *
 * `X-Read-Primary: true` on a request forces the primary: read-your-writes after a write, where
 * a replica might not have replayed it yet.
 */
import pg from 'pg';
import type { PostgresConfig } from '../config/load.ts';
import { registerRoleSettings, type RoleSettings } from './role-settings.ts';
import { isDatabaseUnavailable } from './unavailable.ts';

/** The request header that sends a read to the primary. */
export const READ_PRIMARY_HEADER = 'x-read-primary';

const PROBE_TIMEOUT_MS = 1000;

/** Replay lag in ms (null: not a replica, i.e. promoted or misconfigured: never read from it). */
const LAG_QUERY = `select pg_is_in_recovery() as replica,
  case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
       else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000, 0) end::float8 as lag_ms`;

export interface ReplicaState {
  url: string;
  /** Measured lag, ms; undefined while down (or never probed). */
  lagMs?: number;
  up: boolean;
  checkedAt: number;
}

interface Replica {
  /** The URL without credentials (for logs and /metrics). */
  label: string;
  pool: pg.Pool;
  probe: pg.Pool;
  state: ReplicaState;
  probing?: Promise<void>;
}

type Headers = Record<string, string | string[] | undefined>;

/** Does this request ask for the primary? */
export function wantsPrimary(headers: Headers | undefined): boolean {
  const v = headers?.[READ_PRIMARY_HEADER];
  return (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase() === 'true';
}

export class ReadPools {
  readonly primary: pg.Pool;
  private readonly replicas: Replica[];
  private readonly maxLagMs: number;
  private readonly intervalMs: number;
  private next = 0;

  /** `replicaPool` makes the `authenticator` pool of a replica (db/pool.ts requestPool). */
  constructor(cfg: PostgresConfig, primary: pg.Pool, roleSettings: RoleSettings, replicaPool: (at: { host: string; port: number; database: string }) => pg.Pool, applicationName: string) {
    this.primary = primary;
    this.maxLagMs = cfg.replicas.maxLagMs;
    this.intervalMs = cfg.replicas.checkIntervalMs;
    this.replicas = cfg.replicas.urls.map((raw) => {
      const url = new URL(raw);
      const at = { host: decodeURIComponent(url.hostname), port: url.port ? Number(url.port) : 5432, database: decodeURIComponent(url.pathname.slice(1)) || cfg.database };
      const pool = replicaPool(at);
      // The roles' settings are the primary's (a replica has the same catalog, replayed).
      registerRoleSettings(pool, roleSettings);
      const probe = new pg.Pool({ connectionString: raw, max: 1, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS, idleTimeoutMillis: 60_000, application_name: `${applicationName} (replica lag)` });
      probe.on('error', () => undefined);
      url.username = '';
      url.password = '';
      return { label: url.toString(), pool, probe, state: { url: url.toString(), up: false, checkedAt: 0 } };
    });
  }

  /** Are there replicas at all? */
  get enabled(): boolean {
    return this.replicas.length > 0;
  }

  /** The replicas as last measured. */
  states(): ReplicaState[] {
    return this.replicas.map((r) => ({ ...r.state }));
  }

  /** The pool for a read: a usable replica (round robin among them), else the primary. */
  async choose(headers?: Headers): Promise<pg.Pool> {
    return (await this.pick(headers))?.pool ?? this.primary;
  }

  /**
   * Runs a read-only `fn` on the chosen pool; when a replica's connection fails, marks it down and
   * runs `fn` again on the primary.
   */
  async run<T>(headers: Headers | undefined, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    const replica = await this.pick(headers);
    if (!replica) return fn(this.primary);
    try {
      return await fn(replica.pool);
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      replica.state = { ...replica.state, up: false, lagMs: undefined, checkedAt: Date.now() };
      return fn(this.primary);
    }
  }

  async end(): Promise<void> {
    await Promise.all(this.replicas.flatMap((r) => [r.pool.end(), r.probe.end()]));
  }

  private async pick(headers: Headers | undefined): Promise<Replica | undefined> {
    if (!this.replicas.length || wantsPrimary(headers)) return undefined;
    const n = this.replicas.length;
    const start = this.next++ % n;
    for (let i = 0; i < n; i++) {
      const r = this.replicas[(start + i) % n];
      if (Date.now() - r.state.checkedAt >= this.intervalMs) await this.measure(r);
      if (r.state.up && r.state.lagMs !== undefined && r.state.lagMs <= this.maxLagMs) return r;
    }
    return undefined;
  }

  private measure(r: Replica): Promise<void> {
    r.probing ??= (async () => {
      try {
        const { rows } = await r.probe.query<{ replica: boolean; lag_ms: number }>(LAG_QUERY);
        const row = rows[0];
        r.state = { url: r.label, up: row.replica, lagMs: row.replica ? row.lag_ms : undefined, checkedAt: Date.now() };
      } catch {
        r.state = { url: r.label, up: false, lagMs: undefined, checkedAt: Date.now() };
      } finally {
        r.probing = undefined;
      }
    })();
    return r.probing;
  }
}
