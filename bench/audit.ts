/**
 * npm run bench:audit — what the hash-chained audit log costs, each figure beside its floor in
 * the same run on a throwaway embedded Postgres:
 *   1. transactions/s and latency of `begin; <write>; commit` at concurrency 1 and 16, where the
 *      write is audit.append() (the chain: advisory lock, head read, sha256, insert) and the floor
 *      an insert of the same row into a plain table of the same shape (no lock, no hash);
 *   2. sign-in/s (autocannon, AUTH_BCRYPT_COST 4 so the hash does not hide the rest) with auth's
 *      chain trigger enabled, and disabled (the floor: GoTrue's audit_log_entries insert alone);
 *   3. `audit verify` throughput (entries/s recomputed in Node).
 * BENCH_SECONDS sets the duration of each measurement.
 */
import pg from 'pg';
import { verifyAuditLog } from '../audit/verify.ts';
import { CONNECTIONS, SECONDS, cannon, percentile, startBenchStack } from './harness.ts';

interface TxFigures {
  tps: number;
  p50: number;
  p99: number;
}

/** `concurrency` loops of one-statement transactions for SECONDS. */
async function transactions(pool: pg.Pool, concurrency: number, sql: string, params: () => unknown[]): Promise<TxFigures> {
  const times: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    const c = await pool.connect();
    try {
      while (performance.now() < end) {
        const t = performance.now();
        await c.query('begin');
        await c.query(sql, params());
        await c.query('commit');
        times.push(performance.now() - t);
      }
    } finally {
      c.release();
    }
  }));
  times.sort((a, b) => a - b);
  return { tps: times.length / SECONDS, p50: percentile(times, 50), p99: percentile(times, 99) };
}

const row = (label: string, f: TxFigures) => `  ${label.padEnd(34)} ${f.tps.toFixed(0).padStart(7)} tx/s   p50 ${f.p50.toFixed(2)} ms   p99 ${f.p99.toFixed(2)} ms`;

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS), AUTH_RATE_LIMIT_SIGNIN: '0', AUTH_RATE_LIMIT_SIGNUP: '0', AUTH_BCRYPT_COST: '4' });
  const pool = new pg.Pool({ connectionString: config.postgres.url, max: CONNECTIONS });
  try {
    await pool.query(`create table public.bench_floor (like audit.entries including defaults); create sequence public.bench_floor_seq`);
    const detail = () => [{ user_id: '6f1c1a37-3f51-4c55-b6a3-58b5d3a3e9a1', method: 'password' }];
    const append = `select audit.append('bench.event', 'target', $1)`;
    const floor = `insert into public.bench_floor (id, at, action, target, detail, prev_hash, hash) values (nextval('public.bench_floor_seq'), clock_timestamp(), 'bench.event', 'target', $1, '', '')`;
    process.stderr.write(`${SECONDS} s per measurement\n`);
    process.stdout.write('one write per transaction\n');
    for (const n of [1, CONNECTIONS]) {
      const f = await transactions(pool, n, floor, detail);
      const a = await transactions(pool, n, append, detail);
      process.stdout.write(`${row(`plain insert (floor), ${n} conn`, f)}\n${row(`audit.append, ${n} conn`, a)}\n`);
      process.stdout.write(`  → +${(a.p50 - f.p50).toFixed(2)} ms p50 per transaction, ${((a.tps / f.tps) * 100).toFixed(0)}% of the floor's throughput\n`);
    }

    const auth = `${stack.url}/auth/v1`;
    const headers = { apikey: config.anonKey, 'content-type': 'application/json' };
    const body = JSON.stringify({ email: 'bench@example.com', password: 'bench-password-1' });
    const res = await fetch(`${auth}/signup`, { method: 'POST', headers, body });
    if (!res.ok) throw new Error(`signup: ${res.status}`);
    const signIn = (title: string) => cannon({ title, url: `${auth}/token?grant_type=password`, method: 'POST', headers, body });
    await pool.query('alter table auth.audit_log_entries disable trigger audit_chain');
    const without = await signIn('sign-in without the chain');
    await pool.query('alter table auth.audit_log_entries enable trigger audit_chain');
    const withChain = await signIn('sign-in with the chain');
    process.stdout.write(`sign-in (bcrypt cost 4, ${CONNECTIONS} connections)\n`);
    process.stdout.write(`  without the chain trigger (floor)   ${without.rps.toFixed(0).padStart(6)} req/s   p50 ${without.p50} ms   p99 ${without.p99} ms\n`);
    process.stdout.write(`  with the chain                      ${withChain.rps.toFixed(0).padStart(6)} req/s   p50 ${withChain.p50} ms   p99 ${withChain.p99} ms\n`);

    const t = performance.now();
    const verified = await verifyAuditLog(pool);
    const ms = performance.now() - t;
    if (!verified.ok) throw new Error(`verify: ${verified.problem}`);
    process.stdout.write(`audit verify: ${verified.count} entries in ${ms.toFixed(0)} ms (${((verified.count / ms) * 1000).toFixed(0)} entries/s)\n`);
  } finally {
    await pool.end();
    await close();
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
