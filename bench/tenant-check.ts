/**
 * npm run bench:tenant-check — what the per-request tenant check (auth.check_request(),
 * sql/0026_tenant_rbac.sql) adds to a request's transaction.
 *
 * Over the embedded stack's Postgres, as a tenant's user, the same primary-key read in a
 * transaction as the caller: (product) withRequestContext, whose context statement ends with the
 * check; the same pipeline by hand with the check; and (floor) by hand without it. At concurrency 1
 * (the added latency) and 16 (the throughput cost). BENCH_SECONDS sets each duration (default 4).
 */
import os from 'node:os';
import type pg from 'pg';
import { createPools } from '../db/pool.ts';
import { contextStatement, settingsStatement, withRequestContext } from '../db/request-context.ts';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { closedLoop, startBenchStack, type Figures } from './harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const READ = `select coalesce(json_agg(t), '[]')::text as body from (select * from public.bench_items where id = $1) t`;

/** The transaction withRequestContext runs, by hand: BEGIN, the context (with or without the check), statement, COMMIT in one write. */
async function byHand(pool: pg.Pool, claims: Record<string, unknown>, i: number, check: boolean): Promise<void> {
  const client = await pool.connect();
  try {
    await Promise.all([
      client.query('begin read only'),
      client.query(check ? contextStatement(claims, { readOnly: true }) : settingsStatement(claims, { readOnly: true })),
      client.query(READ, [String(visibleItemId(i))]),
      client.query('commit'),
    ]);
  } finally {
    client.release();
  }
}

async function main(): Promise<void> {
  const { config, close } = await startBenchStack({ DB_POOL_MAX: '16' });
  await loadItems(config);
  const { claims } = await tenantUser(config);
  const pools = createPools(config.postgres, 'bench tenant check');
  const product = (i: number) => withRequestContext(pools.request, claims, (c) => c.query(READ, [String(visibleItemId(i))]), { readOnly: true, singleQuery: true });
  const floor = (i: number) => byHand(pools.request, claims, i, false);
  const floorWithCheck = (i: number) => byHand(pools.request, claims, i, true);
  for (let i = 0; i < 500; i++) await Promise.all([product(i), floor(i), floorWithCheck(i)]); // warm all
  const fmt = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} tx/s  p50 ${f.p50.toFixed(3).padStart(7)} ms  p99 ${f.p99.toFixed(3).padStart(7)} ms`;
  process.stdout.write(`\nPer-request tenant check, ${SECONDS} s each, ${os.cpus().length} cores\n`);
  for (const concurrency of [1, 16]) {
    const withIt = await closedLoop(product, concurrency, SECONDS);
    const without = await closedLoop(floor, concurrency, SECONDS);
    const handWith = await closedLoop(floorWithCheck, concurrency, SECONDS);
    process.stdout.write(`\nconcurrency ${concurrency}\n  withRequestContext (check)  ${fmt(withIt)}\n  by hand, with the check     ${fmt(handWith)}\n  by hand, without the check  ${fmt(without)}\n`);
    process.stdout.write(`  the check adds p50 ${(handWith.p50 - without.p50).toFixed(3)} ms; by hand with it: ${((handWith.rps / without.rps) * 100).toFixed(1)} % of the floor's throughput\n`);
  }
  await pools.end();
  await close();
}

await main();
