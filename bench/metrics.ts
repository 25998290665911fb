/**
 * npm run bench:metrics — what the HTTP metrics cost REST: bench/rest.ts's two reads (one row by
 * primary key; 100 rows with a to-one embed) at concurrency 16 on a stack with METRICS_ENABLED=true
 * beside the same on a stack with METRICS_ENABLED=false (the reference), in one run, alternating
 * off/on ROUNDS times on fresh stacks so that drift hits both. Prints req/s and p99 of each and
 * the throughput difference, and this process's CPU time per request (the stack and the load
 * generator run here, Postgres does not): on a machine shared with other work throughput swings
 * with the neighbours, CPU time per request much less. BENCH_SECONDS sets each duration.
 */
import os from 'node:os';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { observeHttp, setMetricsEnabled } from '../core/metrics.ts';
import { CONNECTIONS, SECONDS, cannon, startBenchStack, type Figures } from './harness.ts';

const ROUNDS = 3;

type Measured = Figures & { cpuUsPerRequest: number };

/** One autocannon run, with the CPU time this process spent per request. */
async function measured(opts: Parameters<typeof cannon>[0]): Promise<Measured> {
  const cpu = process.cpuUsage();
  const f = await cannon(opts);
  const used = process.cpuUsage(cpu);
  return { ...f, cpuUsPerRequest: (used.user + used.system) / f.requests };
}

async function measure(metrics: boolean): Promise<Measured[]> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS), METRICS_ENABLED: String(metrics) });
  try {
    await loadItems(config);
    await new Promise((r) => setTimeout(r, 300)); // schema cache reload after the DDL
    const { headers } = await tenantUser(config);
    let i = 0;
    const pk = await measured({
      title: 'pk',
      url: stack.url,
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(i++)}` }) }],
    });
    const embed = await measured({ title: 'embed', url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers });
    if (metrics) {
      // The metrics were really recorded.
      const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${config.serviceRoleKey}` } });
      const text = await res.text();
      if (!/nextmavens_http_requests_total\{service="rest",route="\/:relation",method="GET",status="200"\} \d{3,}/.test(text)) throw new Error('metrics on, but no REST request was counted');
    }
    return [pk, embed];
  } finally {
    await close();
  }
}

/** What recording one request costs by itself (the onResponse hook's work), in ns: a steadier figure on a busy machine. */
function recordingCostNs(): number {
  setMetricsEnabled(true);
  const n = 200_000;
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) observeHttp('bench', '/:relation', 'GET', 200, 0.004);
    best = Math.min(best, Number(process.hrtime.bigint() - t) / n);
  }
  return best;
}

async function main(): Promise<void> {
  const names = ['GET one row by primary key', 'GET 100 rows with a to-one embed'];
  const on: Measured[][] = [];
  const off: Measured[][] = [];
  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}, ${ROUNDS} rounds of off/on\n`);
  for (let r = 0; r < ROUNDS; r++) {
    off.push(await measure(false));
    on.push(await measure(true));
  }
  const mean = (runs: Measured[][], k: number, f: 'rps' | 'p99' | 'cpuUsPerRequest') => runs.reduce((a, run) => a + run[k][f], 0) / runs.length;
  process.stdout.write(`\nREST with HTTP metrics vs without (METRICS_ENABLED=false), concurrency ${CONNECTIONS}, ${SECONDS} s each, mean of ${ROUNDS} rounds, ${os.cpus().length} cores\n\n`);
  names.forEach((name, k) => {
    const a = mean(on, k, 'rps');
    const b = mean(off, k, 'rps');
    process.stdout.write(
      `${name}\n  metrics on : ${a.toFixed(0).padStart(7)} req/s  p99 ${mean(on, k, 'p99').toFixed(2).padStart(6)} ms   (rounds: ${on.map((x) => x[k].rps.toFixed(0)).join(', ')})\n` +
        `  metrics off: ${b.toFixed(0).padStart(7)} req/s  p99 ${mean(off, k, 'p99').toFixed(2).padStart(6)} ms   (rounds: ${off.map((x) => x[k].rps.toFixed(0)).join(', ')})\n` +
        `  throughput with metrics: ${((100 * (a - b)) / b).toFixed(1)} %\n` +
        `  CPU per request (this process): on ${mean(on, k, 'cpuUsPerRequest').toFixed(0)} µs, off ${mean(off, k, 'cpuUsPerRequest').toFixed(0)} µs ` +
        `(${((100 * (mean(on, k, 'cpuUsPerRequest') - mean(off, k, 'cpuUsPerRequest'))) / mean(off, k, 'cpuUsPerRequest')).toFixed(1)} %)\n\n`,
    );
  });
  const ns = recordingCostNs();
  const cpuOff = mean(off, 0, 'cpuUsPerRequest');
  process.stdout.write(`Recording one request (observeHttp, best of 5 × 200,000): ${ns.toFixed(0)} ns = ${((100 * ns) / 1000 / cpuOff).toFixed(2)} % of the CPU a primary-key GET costs this process without metrics (${cpuOff.toFixed(0)} µs)\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
