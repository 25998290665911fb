/**
 * npm run bench:scale — what PgBouncer and a read replica change, measured in one run.
 *
 * One primary and one streaming replica (embedded Postgres 17, test/helpers/replica.ts), the
 * REST bench's tenant-isolated table (bench/fixtures.ts), and three stacks on that one database:
 *   direct    — the request pool straight to the primary (the reference),
 *   pgbouncer — the request pool through a real PgBouncer (Debian's, transaction pooling, 8
 *               server connections for the 16 client ones, DB_PREPARED_STATEMENTS=false),
 *   replica   — DATABASE_READ_URL on the replica (db/read-pools.ts).
 * With autocannon at concurrency 16: REST GET by primary key on direct and on pgbouncer; then a
 * read-heavy mix (9 GETs by primary key to 1 POST insert) on direct and on replica, with the
 * transactions each server committed meanwhile (pg_stat_database): how much of the read load the
 * replica took off the primary. BENCH_SECONDS sets the duration of each measurement.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { CONNECTIONS, SECONDS, cannon, startBenchStack, type BenchStack, type Figures } from './harness.ts';
import { startPgBouncer } from '../test/helpers/pgbouncer.ts';
import { REPLICA_DB, startReplicaPair } from '../test/helpers/replica.ts';

/** Transactions committed on the server of `url` (its database), for deltas around a run. */
async function commits(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ n: string }>(`select xact_commit::text as n from pg_stat_database where datname = $1`, [REPLICA_DB]);
    return Number(rows[0].n);
  } finally {
    await c.end();
  }
}

const settle = () => new Promise((r) => setTimeout(r, 1500)); // the statistics collector's flush interval is 1 s

async function main(): Promise<void> {
  const pair = await startReplicaPair();
  const primary = new URL(pair.primaryUrl);
  const bouncer = await startPgBouncer({ poolSize: 8, server: { host: primary.hostname, port: Number(primary.port), user: decodeURIComponent(primary.username), password: decodeURIComponent(primary.password) } });
  const stacks: BenchStack[] = [];
  try {
    // One secret for the three stacks (each would generate its own in its DATA_DIR).
    const base = { JWT_SECRET: randomBytes(32).toString('hex'), DATABASE_URL: pair.primaryUrl, DB_POOL_MAX: String(CONNECTIONS), ALERT_INTERVAL: '3600' };
    const direct = await startBenchStack(base);
    stacks.push(direct);
    await loadItems(direct.config);
    const pooled = await startBenchStack({ ...base, DB_PREPARED_STATEMENTS: 'false', DATABASE_URL: bouncer.through(pair.primaryUrl), DATABASE_DIRECT_URL: pair.primaryUrl });
    stacks.push(pooled);
    const replica = await startBenchStack({ ...base, DATABASE_READ_URL: pair.replicaUrl, READ_REPLICA_MAX_LAG: '5000' });
    stacks.push(replica);
    await pair.caughtUp();
    await new Promise((r) => setTimeout(r, 500)); // schema caches reload after the DDL

    const { headers } = await tenantUser(direct.config);
    let i = 0;
    const pk = (stack: BenchStack, title: string) =>
      cannon({ title, url: stack.stack.url, headers, requests: [{ setupRequest: (req) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(i++)}` }) }] });
    const mix = (stack: BenchStack, title: string) =>
      cannon({
        title,
        url: stack.stack.url,
        headers,
        requests: [
          {
            setupRequest: (req) =>
              ++i % 10 === 0
                ? { ...req, method: 'POST', path: '/rest/v1/bench_items', headers: { ...headers, prefer: 'return=minimal' }, body: JSON.stringify({ name: 'mix', client_id: 1 }) }
                : { ...req, method: 'GET', path: `/rest/v1/bench_items?id=eq.${visibleItemId(i)}`, body: undefined },
          },
        ],
      });
    /** A mix run with the commits on the primary and on the replica while it ran. */
    const measured = async (stack: BenchStack, title: string) => {
      await settle();
      const [p0, r0] = [await commits(pair.primaryUrl), await commits(pair.replicaUrl)];
      const figures = await mix(stack, title);
      await settle();
      const [p1, r1] = [await commits(pair.primaryUrl), await commits(pair.replicaUrl)];
      return { figures, primary: p1 - p0, replica: r1 - r0 };
    };

    const probe = await fetch(`${pooled.stack.url}/rest/v1/bench_items?id=eq.1`, { headers });
    if (!probe.ok) throw new Error(`through PgBouncer: ${probe.status} ${await probe.text()}`);
    process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
    const pkDirect = await pk(direct, 'pk direct');
    const pkPooled = await pk(pooled, 'pk pgbouncer');
    const stats = await bouncer.stats(REPLICA_DB);
    const mixDirect = await measured(direct, 'mix direct');
    const mixReplica = await measured(replica, 'mix replica');

    const fmt = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;
    const out = process.stdout;
    out.write(`\nScale-out, REST, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores\n\n`);
    out.write(`GET one row by primary key\n  direct   : ${fmt(pkDirect)}\n  pgbouncer: ${fmt(pkPooled)}  (8 server connections; ${stats?.total_xact_count ?? '?'} transactions pooled)\n`);
    out.write(`  ratio pgbouncer/direct: ${(pkPooled.rps / pkDirect.rps).toFixed(2)}\n\n`);
    const per = (n: number, f: Figures) => (n / f.requests).toFixed(2);
    out.write(`Read-heavy mix (9 GET : 1 POST)\n`);
    out.write(`  primary only: ${fmt(mixDirect.figures)}  primary commits/request ${per(mixDirect.primary, mixDirect.figures)}\n`);
    out.write(`  with replica: ${fmt(mixReplica.figures)}  primary commits/request ${per(mixReplica.primary, mixReplica.figures)}, replica ${per(mixReplica.replica, mixReplica.figures)}\n`);
    out.write(`  read offload: ${((1 - mixReplica.primary / mixReplica.figures.requests / (mixDirect.primary / mixDirect.figures.requests)) * 100).toFixed(0)}% fewer primary transactions per request; ratio replica/primary-only req/s ${(mixReplica.figures.rps / mixDirect.figures.rps).toFixed(2)}\n`);
  } finally {
    for (const s of stacks.reverse()) await s.close();
    await bouncer.close();
    await pair.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
