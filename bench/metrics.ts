/**
 * npm run bench:metrics — what the HTTP metrics cost REST: bench/rest.ts's two reads (one row by
 * primary key; 100 rows with a to-one embed) at concurrency 16 on a stack with METRICS_ENABLED=true
 * beside the same on a stack with METRICS_ENABLED=false (the reference), in one run, alternating
 * off/on ROUNDS times on fresh stacks so that drift hits both. Prints req/s and p99 of each and
 * the throughput difference. BENCH_SECONDS sets each measurement's duration.
 */
import os from 'node:os';
import { loadItems, tenantUser, visibleItemId } from './fixtures.ts';
import { CONNECTIONS, SECONDS, cannon, startBenchStack, type Figures } from './harness.ts';

const ROUNDS = 2;

async function measure(metrics: boolean): Promise<Figures[]> {
  const { config, stack, close } = await startBenchStack({ DB_POOL_MAX: String(CONNECTIONS), METRICS_ENABLED: String(metrics) });
  try {
    await loadItems(config);
    await new Promise((r) => setTimeout(r, 300)); // schema cache reload after the DDL
    const { headers } = await tenantUser(config);
    let i = 0;
    const pk = await cannon({
      title: 'pk',
      url: stack.url,
      headers,
      requests: [{ setupRequest: (req) => ({ ...req, path: `/rest/v1/bench_items?id=eq.${visibleItemId(i++)}` }) }],
    });
    const embed = await cannon({ title: 'embed', url: `${stack.url}/rest/v1/bench_items?select=id,name,bench_clients(name)&order=id&limit=100`, headers });
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

async function main(): Promise<void> {
  const names = ['GET one row by primary key', 'GET 100 rows with a to-one embed'];
  const on: Figures[][] = [];
  const off: Figures[][] = [];
  process.stderr.write(`${SECONDS} s per measurement at concurrency ${CONNECTIONS}, ${ROUNDS} rounds of off/on\n`);
  for (let r = 0; r < ROUNDS; r++) {
    off.push(await measure(false));
    on.push(await measure(true));
  }
  const mean = (runs: Figures[][], k: number, f: 'rps' | 'p99') => runs.reduce((a, run) => a + run[k][f], 0) / runs.length;
  process.stdout.write(`\nREST with HTTP metrics vs without (METRICS_ENABLED=false), concurrency ${CONNECTIONS}, ${SECONDS} s each, mean of ${ROUNDS} rounds, ${os.cpus().length} cores\n\n`);
  names.forEach((name, k) => {
    const a = mean(on, k, 'rps');
    const b = mean(off, k, 'rps');
    process.stdout.write(
      `${name}\n  metrics on : ${a.toFixed(0).padStart(7)} req/s  p99 ${mean(on, k, 'p99').toFixed(2).padStart(6)} ms   (rounds: ${on.map((x) => x[k].rps.toFixed(0)).join(', ')})\n` +
        `  metrics off: ${b.toFixed(0).padStart(7)} req/s  p99 ${mean(off, k, 'p99').toFixed(2).padStart(6)} ms   (rounds: ${off.map((x) => x[k].rps.toFixed(0)).join(', ')})\n` +
        `  throughput with metrics: ${((100 * (a - b)) / b).toFixed(1)} %\n\n`,
    );
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
