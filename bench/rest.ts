/**
 * npm run bench:rest — REST throughput and latency against the floor of the same SQL through pg.
 *
 * Starts the whole stack on a throwaway embedded Postgres, loads a tenant-isolated table
 * (RLS on) with 10,000 rows and a to-one relation, then with autocannon at concurrency 16
 * (in a child process, bench/cannon-worker.ts, for the product and the floor alike):
 *   1. GET one row by primary key as service_role (no RLS)   2. the same as a tenant's user (RLS)
 *   3. GET a filtered, ordered list of 20 rows               4. GET 100 rows with a to-one embed
 *   5. POST insert of one row                                 6. PATCH of one row by primary key
 *
 * The floor is what any correct server of the same request must do, with the optimisations the
 * product has, so the ratio measures the product's framework overhead and not an unoptimised floor:
 * a bare node:http server in the stack's process (one event loop for both, as in production), sent
 * the same headers by the same client at the same concurrency, that per request
 *   - reads the URL (and a write's JSON body, parsed),
 *   - checks the `apikey` and the Bearer token the way the product does: jose's HS256
 *     verification on a token's first use, then a map lookup until it expires (core/jwt.ts
 *     caches verified tokens the same way), the claims coming from the token;
 *   - runs withRequestContext (db/request-context.ts), the product's own transaction as the
 *     caller: the role's ALTER ROLE settings, role, request.jwt.claims, request.method,
 *     request.path, request.headers (the received headers as JSON, as PostgREST and the product
 *     set them), request.cookies and auth.check_tenant() in one named prepared context statement;
 *     BEGIN, that statement, the case's statement and COMMIT corked into one write and one round trip;
 *   - runs the case's statement as a named prepared statement (db/prepared.ts, as the product's
 *     statements: parsed and planned once per connection), the body built by Postgres as text,
 *     every value bound — the lists' limits too, as the product binds them: with `limit 20`
 *     written in, the planner chose a worse plan for the filtered list (a tenant index scan and a
 *     sort of its 9,000 rows instead of the primary key's order, ~2× the execution time), so the
 *     floor measured a slower statement than the product's;
 *   - answers 200 with Content-Type and the body (201/200 with no body for a write).
 * It does not set search_path (its statements are schema-qualified), nor the product's response
 * headers (Content-Range, Content-Location, X-Request-Id), CORS, rate limits or metrics. Before
 * measuring, each read's REST body is checked equal to the floor's, and each case runs
 * BENCH_WARMUP seconds (default 2) against REST and the floor unmeasured (bench/harness.ts warmUp). Prints req/s, p50 and p99 for
 * each and the ratios REST/floor (throughput, and p99 as a multiple of the floor's).
 * On a shared machine one measurement can land in a busy moment of the other: each case alternates
 * REST and the floor BENCH_ROUNDS times (default 3) and prints the round of the median ratio
 * whole, with every round's ratio beside it. BENCH_SECONDS sets the duration; BENCH_ONLY=<text>
 * measures only the cases whose name contains it.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { createPools } from '../db/pool.ts';
import { prepared } from '../db/prepared.ts';
import { withRequestContext } from '../db/request-context.ts';
import { jwtVerify, type JWTPayload } from 'jose';
import { loadItems, tenantUser } from './fixtures.ts';
import type { CannonJob } from './cannon-worker.ts';
import { CONNECTIONS, SECONDS, WARMUP_SECONDS, cannonInProcess, measurePostgres, startBenchStack, warmUp, type Figures } from './harness.ts';

/** BENCH_ONLY=<text>: measure only the cases whose name contains it (e.g. `under RLS`). */
const ONLY = process.env.BENCH_ONLY;
/** BENCH_ROUNDS (default 3): REST and the floor alternate this many times per case; the round of the median ratio is printed. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const AS_JSON = (select: string) => `select coalesce(json_agg(t), '[]')::text as body from (${select}) t`;

/** One case: REST's request (as plain data for the load-generating child process) and the floor's statement. */
interface Case {
  name: string;
  /** A read's path whose REST body is checked equal to the floor's before measuring. */
  path?: string;
  rest: Omit<CannonJob, 'title' | 'connections' | 'duration'>;
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
  measurePostgres(config.postgres.port);
  const service = { headers: { apikey: config.serviceRoleKey, authorization: `Bearer ${config.serviceRoleKey}`, 'content-type': 'application/json' } };
  const pools = createPools(config.postgres, 'bench floor');
  const pkRow = AS_JSON('select * from public.bench_items where id = $1');
  const byPk = (headers: Record<string, string>, method: 'GET' | 'PATCH' = 'GET', body?: string) => ({ url: stack.url, headers, method, body, pkPath: '/rest/v1/bench_items?id=eq.' });
  const cases: Case[] = [
    { name: 'GET one row by primary key (service_role)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(service.headers), sql: pkRow, values: (id) => [id], readOnly: true },
    { name: 'GET one row by primary key under RLS (tenant user)', path: '/rest/v1/bench_items?id=eq.5', rest: byPk(user.headers), sql: pkRow, values: (id) => [id], readOnly: true },
    {
      name: 'GET a filtered list of 20 rows',
      path: '/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name&client_id=eq.7&order=id&limit=20`, headers: user.headers },
      sql: AS_JSON('select id, name from public.bench_items where client_id = $1 order by id limit $2'),
      values: () => ['7', '20'],
      readOnly: true,
    },
    {
      name: 'GET 100 rows with a to-one embed',
      path: '/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100',
      rest: { url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers: user.headers },
      sql: AS_JSON('select i.id, i.name, (select row_to_json(c) from (select name from public.bench_clients c where c.id = i.client_id) c) as bench_clients from public.bench_items i order by i.id limit $1'),
      values: () => ['100'],
      readOnly: true,
    },
    {
      name: 'POST insert of one row',
      rest: { url: `${stack.url}/rest/v1/bench_items`, method: 'POST', headers: user.headers, body: JSON.stringify({ name: 'bench', client_id: 1 }) },
      sql: 'insert into public.bench_items (name, client_id) values ($1, $2)',
      values: (_id, body) => [body?.name, String(body?.client_id)],
      readOnly: false,
    },
    {
      name: 'PATCH one row by primary key',
      rest: byPk(user.headers, 'PATCH', JSON.stringify({ name: 'patched' })),
      sql: 'update public.bench_items set name = $1 where id = $2',
      values: (id, body) => [body?.name, id],
      readOnly: false,
    },
  ];

  // The floor (see the header): a bare node:http server in this process (where the product runs too).
  const secret = new TextEncoder().encode(config.jwtSecret);
  const verified = new Map<string, JWTPayload>();
  const verify = async (token: string): Promise<JWTPayload> => {
    const hit = verified.get(token);
    if (hit && (typeof hit.exp !== 'number' || hit.exp + 30 > Date.now() / 1000)) return hit;
    const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], clockTolerance: 30 });
    verified.set(token, payload);
    return payload;
  };
  const callerClaims = async (headers: http.IncomingHttpHeaders): Promise<JWTPayload> => {
    const apikey = headers.apikey;
    const authorization = headers.authorization;
    const bearer = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    const key = typeof apikey === 'string' ? await verify(apikey) : undefined;
    const claims = bearer ? await verify(bearer) : key;
    if (!claims) throw new Error('no API key');
    return claims;
  };
  const floorServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://floor');
    const c = cases[Number(url.pathname.slice(1))];
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : undefined;
      const values = c.values(url.searchParams.get('id') ?? '', body);
      const request = { method: req.method, path: url.pathname, headers: req.headers as Record<string, string> };
      callerClaims(req.headers)
        .then((claims) =>
          withRequestContext(pools.request, claims, async (db) => (await db.query<{ body?: string }>(prepared(db, { text: c.sql, values }))).rows[0]?.body, {
            readOnly: c.readOnly,
            singleQuery: true,
            request,
          }),
        )
        .then(
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
    pkPath: c.rest.pkPath && `/${i}?id=`,
  });

  // Same answer first: the REST body of each read equals the floor's (by primary key: both for id 5).
  for (const [i, c] of cases.entries()) {
    if (!c.path) continue;
    const [rest, fl] = await Promise.all([fetch(`${stack.url}${c.path}`, { headers: c.rest.headers }).then((r) => r.json()), fetch(`${floorUrl}/${i}?id=5`, { headers: c.rest.headers }).then((r) => r.json())]);
    if (!isDeepStrictEqual(rest, fl)) throw new Error(`${c.name}: REST and floor bodies differ\n${JSON.stringify(rest)}\n${JSON.stringify(fl)}`);
  }

  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}, after ${WARMUP_SECONDS} s of the same load unmeasured\n`);
  /** Each case's rounds: REST's figures and the floor's. */
  const rows: { name: string; rounds: [Figures, Figures][] }[] = [];
  for (const [i, c] of cases.entries()) {
    if (ONLY && !c.name.includes(ONLY)) continue;
    await warmUp({ title: c.name, ...c.rest });
    await warmUp({ title: `${c.name} (floor)`, ...floorJob(i, c) });
    const rounds: [Figures, Figures][] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const title = ROUNDS > 1 ? `${c.name} round ${r + 1}` : c.name;
      rounds.push([await cannonInProcess({ title, ...c.rest }), await cannonInProcess({ title: `${title} (floor)`, ...floorJob(i, c) })]);
    }
    rows.push({ name: c.name, rounds });
  }

  const fmt = (f: Figures) =>
    `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  CPU µs/request: Node ${f.cpuUs!.toFixed(0).padStart(4)}${f.pgCpuUs === undefined ? '' : `, Postgres ${f.pgCpuUs.toFixed(0).padStart(4)}`}`;
  const ratio = ([rest, fl]: [Figures, Figures]) => rest.rps / fl.rps;
  process.stdout.write(
    `\nREST vs floor (node:http + pg: cached token check, the product's one-round-trip transaction as the caller, the same statement prepared), both driven by autocannon in a child process, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${ROUNDS} round(s) alternating REST and floor, ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}, bodies checked equal\n\n`,
  );
  for (const { name, rounds } of rows) {
    // The round of the median throughput ratio is printed whole; the others' ratios beside it.
    const sorted = [...rounds].sort((a, b) => ratio(a) - ratio(b));
    const [rest, fl] = sorted[Math.floor((sorted.length - 1) / 2)];
    const all = rounds.length > 1 ? `   (rounds: ${rounds.map((r) => ratio(r).toFixed(2)).join(' / ')})` : '';
    process.stdout.write(`${name}\n  REST : ${fmt(rest)}\n  floor: ${fmt(fl)}\n  ratio REST/floor: ${(rest.rps / fl.rps).toFixed(2)}${all}   p99 REST/floor: ${(rest.p99 / fl.p99).toFixed(2)}   Node CPU REST/floor: ${(rest.cpuUs! / fl.cpuUs!).toFixed(2)}${rest.pgCpuUs === undefined ? '' : `   Postgres CPU REST/floor: ${(rest.pgCpuUs / fl.pgCpuUs!).toFixed(2)}`}\n\n`);
  }
  floorServer.close();
  await pools.end();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
