/**
 * npm run bench:rest — REST throughput and latency against the floor of the same SQL through pg.
 *
 * Starts the whole stack on a throwaway embedded Postgres, loads a tenant-isolated table
 * (RLS on) with 10,000 rows and a to-one relation, then with autocannon at concurrency 16:
 *   1. GET one row by primary key as service_role (no RLS)   2. the same as a tenant's user (RLS)
 *   3. GET a filtered, ordered list of 20 rows               4. GET 100 rows with a to-one embed
 *   5. POST insert of one row                                 6. PATCH of one row by primary key
 * and, for the floor, the same work issued directly with `pg` at the same concurrency: one
 * transaction as the caller (role, claims and the tenant check set by withRequestContext) running
 * the same statement, in one round trip. Before measuring, each read's REST body is checked equal
 * to the floor's. Prints req/s, p50 and p99 for each and the ratios REST/floor (throughput, and
 * p99 as a multiple of the floor's). BENCH_SECONDS sets the duration.
 */
import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { createPools } from '../db/pool.ts';
import { withRequestContext } from '../db/request-context.ts';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { CONNECTIONS, SECONDS, cannon, closedLoop, startBenchStack, type Figures } from './harness.ts';

const AS_JSON = (select: string) => `select coalesce(json_agg(t), '[]')::text as body from (${select}) t`;

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS) });
  await loadItems(config);
  await new Promise((r) => setTimeout(r, 300)); // schema cache reload after the DDL

  const user = await tenantUser(config);
  const service = { claims: { role: 'service_role' }, headers: { apikey: config.serviceRoleKey, authorization: `Bearer ${config.serviceRoleKey}`, 'content-type': 'application/json' } };
  const pools = createPools(config.postgres, 'bench floor');
  const floor = (claims: Record<string, string>, sql: string, values: (n: number) => unknown[], readOnly: boolean) => (n: number) =>
    withRequestContext(pools.request, claims, async (c) => (await c.query<{ body?: string }>(sql, values(n))).rows[0]?.body, { readOnly, singleQuery: true });
  const byPk = (h: Record<string, string>, method: 'GET' | 'PATCH' = 'GET', body?: string) => ({
    url: stack.url,
    headers: h,
    requests: [{ method, body, setupRequest: (req: object) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(Math.floor(Math.random() * 10_000))}` }) }],
  });
  const pkRow = AS_JSON('select * from public.bench_items where id = $1');
  const cases: { name: string; path?: string; rest: Parameters<typeof cannon>[0]; floor: (n: number) => Promise<unknown> }[] = [
    { name: 'GET one row by primary key (service_role)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(service.headers), floor: floor(service.claims, pkRow, (n) => [String(visibleItemId(n))], true) },
    { name: 'GET one row by primary key under RLS (tenant user)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(user.headers), floor: floor(user.claims, pkRow, (n) => [String(visibleItemId(n))], true) },
    {
      name: 'GET a filtered list of 20 rows',
      path: '/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20`, headers: user.headers },
      floor: floor(user.claims, AS_JSON('select id, name from public.bench_items where client_id = $1 order by id limit 20'), () => ['7'], true),
    },
    {
      name: 'GET 100 rows with a to-one embed',
      path: '/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers: user.headers },
      floor: floor(user.claims, AS_JSON('select i.id, i.name, (select row_to_json(c) from (select name from public.bench_clients c where c.id = i.client_id) c) as bench_clients from public.bench_items i order by i.id limit 100'), () => [], true),
    },
    {
      name: 'POST insert of one row',
      rest: { url: `${stack.url}/rest/v1/bench_items`, method: 'POST', headers: user.headers, body: JSON.stringify({ name: 'bench', client_id: 1 }) },
      floor: floor(user.claims, 'insert into public.bench_items (name, client_id) values ($1, $2)', () => ['bench', '1'], false),
    },
    {
      name: 'PATCH one row by primary key',
      rest: byPk(user.headers, 'PATCH', JSON.stringify({ name: 'patched' })),
      floor: floor(user.claims, 'update public.bench_items set name = $1 where id = $2', (n) => ['patched', String(visibleItemId(n))], false),
    },
  ];

  // Same answer first: the REST body of each read equals the floor's (by primary key: both for id 5).
  for (const c of cases) {
    if (!c.path) continue;
    const res = await fetch(`${stack.url}${c.path}`, { headers: c.rest.headers as Record<string, string> });
    const sql = c.name.includes('primary key') ? floor(c.name.includes('service_role') ? service.claims : user.claims, pkRow, () => ['5'], true) : c.floor;
    const [rest, fl] = [await res.json(), JSON.parse(String(await sql(0)))];
    if (!isDeepStrictEqual(rest, fl)) throw new Error(`${c.name}: REST and floor bodies differ\n${JSON.stringify(rest)}\n${JSON.stringify(fl)}`);
  }

  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
  const rows: [string, Figures, Figures][] = [];
  for (const c of cases) rows.push([c.name, await cannon({ title: c.name, ...c.rest }), await closedLoop(c.floor)]);

  const fmt = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;
  process.stdout.write(`\nREST vs floor (pg, same statement in one transaction as the caller), concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores, bodies checked equal\n\n`);
  for (const [name, rest, fl] of rows) {
    process.stdout.write(`${name}\n  REST : ${fmt(rest)}\n  floor: ${fmt(fl)}\n  ratio REST/floor: ${(rest.rps / fl.rps).toFixed(2)}   p99 REST/floor: ${(rest.p99 / fl.p99).toFixed(2)}\n\n`);
  }
  await pools.end();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
