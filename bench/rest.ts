/**
 * npm run bench:rest — REST throughput and latency against the floor of the same SQL through pg.
 *
 * Starts the whole stack on a throwaway embedded Postgres, loads a tenant-isolated table
 * (RLS on) with 10,000 rows and a to-one relation, then with autocannon at concurrency 16
 * (in a child process, bench/cannon-worker.ts, for the product and the floor alike):
 *   1. GET one row by primary key as service_role (no RLS)   2. the same as a tenant's user (RLS)
 *   3. GET a filtered, ordered list of 20 rows               4. GET 100 rows with a to-one embed
 *   5. POST insert of one row                                 6. PATCH of one row by primary key
 * and, for the floor, a bare node:http server in the same process that runs the same statement
 * with `pg`, driven by the same client at the same concurrency: one transaction as the caller (role, claims and the tenant check set by withRequestContext) running
 * the same statement, in one round trip. Before measuring, each read's REST body is checked equal
 * to the floor's. Prints req/s, p50 and p99 for each and the ratios REST/floor (throughput, and
 * p99 as a multiple of the floor's). BENCH_SECONDS sets the duration.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { createPools } from '../db/pool.ts';
import { withRequestContext } from '../db/request-context.ts';
import { loadItems, tenantUser } from './fixtures.ts';
import type { CannonJob } from './cannon-worker.ts';
import { CONNECTIONS, SECONDS, cannonInProcess, startBenchStack, type Figures } from './harness.ts';

const AS_JSON = (select: string) => `select coalesce(json_agg(t), '[]')::text as body from (${select}) t`;

/** One case: REST's request (as plain data for the load-generating child process) and the floor's statement. */
interface Case {
  name: string;
  /** A read's path whose REST body is checked equal to the floor's before measuring. */
  path?: string;
  rest: Omit<CannonJob, 'title' | 'connections' | 'duration'>;
  claims: Record<string, string>;
  sql: string;
  /** The statement's values from the floor request's `id` (the primary key) and its parsed JSON body. */
  values: (id: string, body: Record<string, unknown> | undefined) => unknown[];
  readOnly: boolean;
}

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS) });
  await loadItems(config);
  await new Promise((r) => setTimeout(r, 300)); // schema cache reload after the DDL

  const user = await tenantUser(config);
  const service = { claims: { role: 'service_role' }, headers: { apikey: config.serviceRoleKey, authorization: `Bearer ${config.serviceRoleKey}`, 'content-type': 'application/json' } };
  const pools = createPools(config.postgres, 'bench floor');
  const pkRow = AS_JSON('select * from public.bench_items where id = $1');
  const byPk = (headers: Record<string, string>, method: 'GET' | 'PATCH' = 'GET', body?: string) => ({ url: stack.url, headers, method, body, pkPath: '/rest/v1/bench_items?id=eq.' });
  const cases: Case[] = [
    { name: 'GET one row by primary key (service_role)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(service.headers), claims: service.claims, sql: pkRow, values: (id) => [id], readOnly: true },
    { name: 'GET one row by primary key under RLS (tenant user)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(user.headers), claims: user.claims, sql: pkRow, values: (id) => [id], readOnly: true },
    {
      name: 'GET a filtered list of 20 rows',
      path: '/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20`, headers: user.headers },
      claims: user.claims,
      sql: AS_JSON('select id, name from public.bench_items where client_id = $1 order by id limit 20'),
      values: () => ['7'],
      readOnly: true,
    },
    {
      name: 'GET 100 rows with a to-one embed',
      path: '/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers: user.headers },
      claims: user.claims,
      sql: AS_JSON('select i.id, i.name, (select row_to_json(c) from (select name from public.bench_clients c where c.id = i.client_id) c) as bench_clients from public.bench_items i order by i.id limit 100'),
      values: () => [],
      readOnly: true,
    },
    {
      name: 'POST insert of one row',
      rest: { url: `${stack.url}/rest/v1/bench_items`, method: 'POST', headers: user.headers, body: JSON.stringify({ name: 'bench', client_id: 1 }) },
      claims: user.claims,
      sql: 'insert into public.bench_items (name, client_id) values ($1, $2)',
      values: (_id, body) => [body?.name, String(body?.client_id)],
      readOnly: false,
    },
    {
      name: 'PATCH one row by primary key',
      rest: byPk(user.headers, 'PATCH', JSON.stringify({ name: 'patched' })),
      claims: user.claims,
      sql: 'update public.bench_items set name = $1 where id = $2',
      values: (id, body) => [body?.name, id],
      readOnly: false,
    },
  ];

  // The floor: a bare node:http server in this process (where the product runs too) that reads the
  // request (and a write's JSON body) and runs the case's statement as the caller in one round trip.
  const floorServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://floor');
    const c = cases[Number(url.pathname.slice(1))];
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : undefined;
      withRequestContext(pools.request, c.claims, async (db) => (await db.query<{ body?: string }>(c.sql, c.values(url.searchParams.get('id') ?? '', body))).rows[0]?.body, {
        readOnly: c.readOnly,
        singleQuery: true,
      }).then(
        (out) => {
          if (out === undefined) res.writeHead(c.readOnly ? 200 : 201).end();
          else res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(out);
        },
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
  });
  floorServer.listen(0, '127.0.0.1');
  await once(floorServer, 'listening');
  const floorUrl = `http://127.0.0.1:${(floorServer.address() as AddressInfo).port}`;
  const floorJob = (i: number, c: Case): Case['rest'] => ({
    ...c.rest,
    url: `${floorUrl}/${i}?id=5`,
    headers: c.rest.body ? { 'content-type': 'application/json' } : {},
    pkPath: c.rest.pkPath && `/${i}?id=`,
  });

  // Same answer first: the REST body of each read equals the floor's (by primary key: both for id 5).
  for (const [i, c] of cases.entries()) {
    if (!c.path) continue;
    const [rest, fl] = await Promise.all([fetch(`${stack.url}${c.path}`, { headers: c.rest.headers }).then((r) => r.json()), fetch(`${floorUrl}/${i}?id=5`).then((r) => r.json())]);
    if (!isDeepStrictEqual(rest, fl)) throw new Error(`${c.name}: REST and floor bodies differ\n${JSON.stringify(rest)}\n${JSON.stringify(fl)}`);
  }

  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}\n`);
  const rows: [string, Figures, Figures][] = [];
  for (const [i, c] of cases.entries()) rows.push([c.name, await cannonInProcess({ title: c.name, ...c.rest }), await cannonInProcess({ title: `${c.name} (floor)`, ...floorJob(i, c) })]);

  const fmt = (f: Figures) => `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;
  process.stdout.write(
    `\nREST vs floor (node:http + pg, same statement in one transaction as the caller), both driven by autocannon in a child process, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}, bodies checked equal\n\n`,
  );
  for (const [name, rest, fl] of rows) {
    process.stdout.write(`${name}\n  REST : ${fmt(rest)}\n  floor: ${fmt(fl)}\n  ratio REST/floor: ${(rest.rps / fl.rps).toFixed(2)}   p99 REST/floor: ${(rest.p99 / fl.p99).toFixed(2)}\n\n`);
  }
  floorServer.close();
  await pools.end();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
