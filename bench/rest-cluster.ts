/**
 * npm run bench:rest-cluster — what both cores give REST: `nextmavens start` as users run it (a
 * child process with its embedded Postgres), once with WEB_CONCURRENCY=1 and once with 2
 * (cli/cluster.ts: node:cluster workers on one port), beside the floor of bench/rest.ts — a bare
 * node:http server running the same statement with `pg` in one transaction as the caller —
 * likewise in one process and in two node:cluster workers (forked from this script). Cases: GET
 * one row by primary key as service_role and as a tenant's user under RLS, at concurrency 16, the
 * load from autocannon in a child process (bench/cannon-worker.ts). Bodies are checked equal to
 * the floor's first. Prints req/s, p50, p99, the Node CPU time per request (the stack's primary
 * and workers, the floor's workers, from /proc: steadier than req/s on a shared machine),
 * REST/floor, and what the second worker adds (2/1).
 * BENCH_SECONDS sets the duration of each run.
 */
import { spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import '../config/process-env.ts';
import { loadConfig } from '../config/load.ts';
import { createPools } from '../db/pool.ts';
import { withRequestContext } from '../db/request-context.ts';
import { spawnStart } from '../test/helpers/cli.ts';
import { freePort } from '../test/helpers/net.ts';
import { loadItems, tenantUser } from './fixtures.ts';
import { BENCH_LIMITS_ENV, CONNECTIONS, SECONDS, cannonInProcess, type Figures } from './harness.ts';

const PK_ROW = `select coalesce(json_agg(t), '[]')::text as body from (select * from public.bench_items where id = $1) t`;
const SERVICE_CLAIMS = { role: 'service_role' };

/** CPU time (user + system, ms) of these processes so far, from /proc (Linux); 0 for any that is gone. */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(rest[11]) + Number(rest[12]);
    } catch {
      // gone, or not Linux
    }
  }
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** The node processes of a started stack: the process itself and the workers it forked (not Postgres). */
function nodeTree(pid: number): number[] {
  const ps = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  return [pid, ...ps.stdout.split('\n').filter((l) => l.includes('nextmavens.ts start')).map((l) => Number(l.trim().split(/\s+/)[0]))];
}

/** The stack's environment (the floor's workers read the same, to load the same configuration). */
function stackEnv(dir: string, port: number, pgPort: number, workers: number): Record<string, string> {
  return {
    DATA_DIR: dir,
    PORT: String(port),
    HOST: '127.0.0.1',
    POSTGRESQL_PORT: String(pgPort),
    LOG_LEVEL: 'silent',
    DB_POOL_MAX: String(CONNECTIONS),
    WEB_CONCURRENCY: String(workers),
    ...BENCH_LIMITS_ENV,
  };
}

/** A floor worker (forked by `startFloor`): the same statement as the caller, one round trip. */
async function floorWorker(): Promise<void> {
  const config = await loadConfig(process.env);
  const pools = createPools(config.postgres, 'bench floor');
  const user = await tenantUser(config);
  const claims = [SERVICE_CLAIMS, user.claims];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://floor');
    withRequestContext(pools.request, claims[Number(url.pathname.slice(1))], async (db) => (await db.query<{ body: string }>(PK_ROW, [url.searchParams.get('id') ?? ''])).rows[0]?.body, {
      readOnly: true,
      singleQuery: true,
    }).then(
      (out) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(out),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1', () => process.send!({ listening: (server.address() as AddressInfo).port }));
}

/** The floor in `workers` node:cluster workers on one port. */
async function startFloor(env: Record<string, string>, workers: number): Promise<{ url: string; pids: number[]; stop(): Promise<void> }> {
  const port = await freePort();
  const forked = Array.from({ length: workers }, () => cluster.fork({ ...env, FLOOR_PORT: String(port) }));
  await Promise.all(forked.map((w) => once(w, 'message')));
  return {
    url: `http://127.0.0.1:${port}`,
    pids: forked.map((w) => w.process.pid!),
    async stop() {
      await Promise.all(forked.map((w) => (w.process.kill('SIGTERM'), once(w, 'exit'))));
    },
  };
}

/** `nextmavens start` until it says ready (test/helpers/cli.ts); stopped with SIGINT as Ctrl-C does. */
async function startCli(env: Record<string, string>): Promise<{ pid: number; stop(): Promise<void> }> {
  const inherited = { ...process.env };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'REDIS_URL']) delete inherited[name];
  // The banner (with `ready`) is written to stdout whatever LOG_LEVEL says (cli/nextmavens.ts).
  const started = await spawnStart({ ...inherited, ...env }, { timeoutMs: 300_000 });
  return { pid: started.child.pid!, stop: started.stop };
}

interface Row {
  name: string;
  rest: Figures;
  floor: Figures;
  /** Node CPU per request (µs): the stack's primary and workers; the floor's workers. */
  restCpu: number;
  floorCpu: number;
}

/** One autocannon run, and the CPU time `pids` spent per request during it. */
async function cpuPerRequest(pids: number[], run: () => Promise<Figures>): Promise<[Figures, number]> {
  const before = cpuMs(pids);
  const f = await run();
  return [f, ((cpuMs(pids) - before) * 1000) / f.requests];
}

async function measure(env: Record<string, string>, workers: number, first: boolean): Promise<Row[]> {
  const cli = await startCli(env);
  try {
    const config = await loadConfig(env);
    if (first) await loadItems(config);
    await new Promise((r) => setTimeout(r, 500)); // every worker's schema cache reloads after the DDL
    const user = await tenantUser(config);
    const service = { apikey: config.serviceRoleKey, authorization: `Bearer ${config.serviceRoleKey}` };
    const restUrl = `http://127.0.0.1:${env.PORT}`;
    const floor = await startFloor(env, workers);
    try {
      const cases = [
        { name: 'GET one row by primary key (service_role)', headers: service },
        { name: 'GET one row by primary key under RLS (tenant user)', headers: user.headers },
      ];
      for (const [i, c] of cases.entries()) {
        const [rest, fl] = await Promise.all([fetch(`${restUrl}/rest/v1/bench_items?id=eq.5`, { headers: c.headers }).then((r) => r.json()), fetch(`${floor.url}/${i}?id=5`).then((r) => r.json())]);
        if (!isDeepStrictEqual(rest, fl)) throw new Error(`${c.name}: REST and floor bodies differ\n${JSON.stringify(rest)}\n${JSON.stringify(fl)}`);
      }
      // Warm-up, not reported: every worker's connections, prepared statements and JIT, on both sides.
      for (const [i, c] of cases.entries()) {
        await autocannon({ url: `${restUrl}/rest/v1/bench_items?id=eq.5`, headers: c.headers, connections: CONNECTIONS, amount: 2000 });
        await autocannon({ url: `${floor.url}/${i}?id=5`, connections: CONNECTIONS, amount: 2000 });
      }
      const stackPids = nodeTree(cli.pid);
      const rows: Row[] = [];
      for (const [i, c] of cases.entries()) {
        const [rest, restCpu] = await cpuPerRequest(stackPids, () => cannonInProcess({ title: `${c.name}, ${workers} worker(s)`, url: restUrl, headers: c.headers, pkPath: '/rest/v1/bench_items?id=eq.' }));
        const [fl, floorCpu] = await cpuPerRequest(floor.pids, () => cannonInProcess({ title: `${c.name} (floor), ${workers} worker(s)`, url: floor.url, headers: {}, pkPath: `/${i}?id=` }));
        rows.push({ name: c.name, rest, floor: fl, restCpu, floorCpu });
      }
      return rows;
    } finally {
      await floor.stop();
    }
  } finally {
    await cli.stop();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-bench-'));
  await chmod(dir, 0o755);
  try {
    const [port, pgPort] = [await freePort(), await freePort()];
    const loadBefore = os.loadavg()[0];
    const single = await measure(stackEnv(dir, port, pgPort, 1), 1, true);
    const two = await measure(stackEnv(dir, port, pgPort, 2), 2, false);
    const fmt = (f: Figures, cpu: number) => `${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  Node CPU ${cpu.toFixed(0).padStart(5)} µs/request`;
    process.stdout.write(
      `\nREST with WEB_CONCURRENCY=1 and =2 (\`nextmavens start\`, node:cluster workers) vs the floor (node:http + pg, same statement in one transaction as the caller) in 1 process and in 2 node:cluster workers; autocannon in a child process, concurrency ${CONNECTIONS}, ${SECONDS} s each, ${os.cpus().length} cores, load average ${loadBefore.toFixed(1)} before / ${os.loadavg()[0].toFixed(1)} after, bodies checked equal\n\n`,
    );
    for (const [i, one] of single.entries()) {
      const t = two[i];
      process.stdout.write(
        `${one.name}\n` +
          `  1 process  REST : ${fmt(one.rest, one.restCpu)}\n             floor: ${fmt(one.floor, one.floorCpu)}\n             ratio REST/floor: ${(one.rest.rps / one.floor.rps).toFixed(2)}\n` +
          `  2 workers  REST : ${fmt(t.rest, t.restCpu)}\n             floor: ${fmt(t.floor, t.floorCpu)}\n             ratio REST/floor: ${(t.rest.rps / t.floor.rps).toFixed(2)}\n` +
          `  2 workers / 1 process: REST ${(t.rest.rps / one.rest.rps).toFixed(2)}×, floor ${(t.floor.rps / one.floor.rps).toFixed(2)}×\n\n`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (cluster.isWorker) {
  floorWorker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
