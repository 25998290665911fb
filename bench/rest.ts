/**
 * npm run bench:rest — REST throughput and latency against the floor of the same SQL through pg.
 *
 * Starts the whole stack on a throwaway embedded Postgres, loads a tenant-isolated table
 * (RLS on) with 10,000 rows and a to-one relation, then with autocannon at concurrency 16:
 *   1. GET one row by primary key          2. GET 100 rows with a to-one embed
 *   3. POST insert of one row
 * and, for the floor, the same work issued directly with `pg` at the same concurrency: a
 * transaction that sets the caller's role and claims and runs the same statement.
 * Prints req/s, p50 and p99 for each and the ratio REST/floor. BENCH_SECONDS sets the duration.
 */
import os from 'node:os';
import { createPools } from '../db/pool.ts';
import { withRequestContext } from '../db/request-context.ts';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { CONNECTIONS, SECONDS, cannon, closedLoop, startBenchStack, type Figures } from './harness.ts';

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS) });
  await loadItems(config);
  await new Promise((r) => setTimeout(r, 300)); // schema cache reload after the DDL

  const { claims, headers } = await tenantUser(config);
  const pools = createPools(config.postgres, 'bench floor');
  const asCaller = (sql: string, values: unknown[], readOnly: boolean) =>
    withRequestContext(pools.request, claims, (c) => c.query(sql, values), { readOnly });

  const rows: [string, Figures, Figures][] = [];
  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
  let i = 0;
  rows.push([
    'GET one row by primary key',
    await cannon({
      title: 'pk',
      url: stack.url,
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(i++)}` }) }],
    }),
    await closedLoop((n) =>
      asCaller(`select coalesce(json_agg(t), '[]')::text as body from (select * from public.bench_items where id = $1) t`, [String(visibleItemId(n))], true),
    ),
  ]);
  rows.push([
    'GET 100 rows with a to-one embed',
    await cannon({ title: 'embed', url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers }),
    await closedLoop(() =>
      asCaller(
        `select coalesce(json_agg(t), '[]')::text from (select i.id, i.name, (select row_to_json(c) from (select name from public.bench_clients c where c.id = i.client_id) c) as bench_clients from public.bench_items i order by i.id limit 100) t`,
        [],
        true,
      ),
    ),
  ]);
  rows.push([
    'POST insert of one row',
    await cannon({ title: 'insert', url: `${stack.url}/rest/v1/bench_items`, method: 'POST', headers, body: JSON.stringify({ name: 'bench', client_id: 1 }) }),
    await closedLoop(() => asCaller(`insert into public.bench_items (name, client_id) values ($1, $2)`, ['bench', '1'], false)),
  ]);

  const fmt = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;
  process.stdout.write(`\nREST vs floor (pg, same transaction shape), concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores\n\n`);
  for (const [name, rest, fl] of rows) {
    process.stdout.write(`${name}\n  REST : ${fmt(rest)}\n  floor: ${fmt(fl)}\n  ratio REST/floor: ${(rest.rps / fl.rps).toFixed(2)}\n\n`);
  }
  await pools.end();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
