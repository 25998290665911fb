/**
 * Gauges over the database, read when /metrics is scraped: each pool's connections in use, idle
 * and waiting; Postgres connections by state, database size, WAL retained per replication slot;
 * graphile-worker jobs queued and failed; stored objects and bytes. A scrape while the database is
 * away answers nextmavens_postgres_up 0 (within 3 s) instead of hanging.
 */
import client from 'prom-client';
import type pg from 'pg';
import { registry } from '../core/metrics.ts';
import { readDatabaseStats, type DatabaseStats } from './store.ts';

const SCRAPE_TIMEOUT_MS = 3000;

interface Source {
  pools: Record<string, pg.Pool>;
  admin: pg.Pool;
}

const sources = new Set<Source>();

/** Current connection counts of a pg.Pool. */
export function poolStats(pool: pg.Pool): { max: number; inUse: number; idle: number; waiting: number } {
  return { max: pool.options.max ?? 10, inUse: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

/** Database statistics, or undefined when the database does not answer within `timeoutMs`. */
export async function statsWithin(admin: pg.Pool, timeoutMs = SCRAPE_TIMEOUT_MS): Promise<DatabaseStats | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
  try {
    return await Promise.race([readDatabaseStats(admin).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

let defined = false;

function define(): void {
  if (defined) return;
  defined = true;
  const poolMax = new client.Gauge({ name: 'nextmavens_db_pool_max', help: 'Largest size of each service pool (DB_POOL_MAX).', labelNames: ['pool'], registers: [registry] });
  new client.Gauge({
    name: 'nextmavens_db_pool_connections',
    help: 'Connections of each service pool, by state (in_use, idle, waiting = requests queued for one).',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      poolMax.reset();
      for (const s of sources) {
        for (const [name, p] of Object.entries(s.pools)) {
          const st = poolStats(p);
          this.set({ pool: name, state: 'in_use' }, st.inUse);
          this.set({ pool: name, state: 'idle' }, st.idle);
          this.set({ pool: name, state: 'waiting' }, st.waiting);
          poolMax.set({ pool: name }, st.max);
        }
      }
    },
  });
  new client.Gauge({
    name: 'nextmavens_postgres_up',
    help: '1 when Postgres answered this scrape.',
    registers: [registry],
    async collect() {
      this.set((await scrapeStats()) ? 1 : 0);
    },
  });
  dbGauge('nextmavens_postgres_connections', 'Backends of the database by state.', ['state'], (g, st) => {
    for (const [state, n] of Object.entries(st.connections)) g.set({ state }, n);
  });
  dbGauge('nextmavens_postgres_database_size_bytes', 'Size of the database.', [], (g, st) => g.set(st.sizeBytes));
  dbGauge('nextmavens_postgres_replication_slot_lag_bytes', 'WAL a replication slot retains (current LSN minus its restart LSN).', ['slot'], (g, st) => {
    for (const slot of st.slots) g.set({ slot: slot.name }, slot.lagBytes);
  });
  dbGauge('nextmavens_jobs', 'graphile-worker jobs: queued (to run or retry) and failed (last attempt failed).', ['state'], (g, st) => {
    if (!st.jobs) return;
    g.set({ state: 'queued' }, st.jobs.queued);
    g.set({ state: 'failed' }, st.jobs.failed);
  });
  dbGauge('nextmavens_storage_objects', 'Stored objects.', [], (g, st) => st.storage && g.set(st.storage.objects));
  dbGauge('nextmavens_storage_object_bytes', 'Bytes of stored objects.', [], (g, st) => st.storage && g.set(st.storage.bytes));
}

/**
 * prom-client collects every metric of a scrape at once (in the same tick): they share the one
 * read of the database under way; the next scrape reads again.
 */
let inFlight: Promise<DatabaseStats | undefined> | undefined;
function scrapeStats(): Promise<DatabaseStats | undefined> {
  const [s] = sources;
  if (!s) return Promise.resolve(undefined);
  return (inFlight ??= statsWithin(s.admin).finally(() => (inFlight = undefined)));
}

function dbGauge(name: string, help: string, labelNames: string[], fill: (g: client.Gauge, stats: DatabaseStats) => void): void {
  new client.Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      const stats = await scrapeStats();
      if (stats) fill(this, stats);
    },
  });
}

/** Adds a process's pools to the gauges (one set per process; the first one's database is described). */
export function collectDatabase(admin: pg.Pool, pools: Record<string, pg.Pool>): () => void {
  define();
  const source = { admin, pools };
  sources.add(source);
  return () => void sources.delete(source);
}
