/**
 * What every bench script shares: duration and concurrency (BENCH_SECONDS, 16 connections),
 * autocannon runs reduced to req/s and latency percentiles, and the whole stack started on a
 * throwaway embedded Postgres.
 */
import '../config/process-env.ts';
import { fork } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pino from 'pino';
import { startStack, type RunningStack } from '../cli/stack.ts';
import { loadConfig, type Config } from '../config/load.ts';
import { freePort } from '../test/helpers/net.ts';
import type { CannonJob } from './cannon-worker.ts';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
export const CONNECTIONS = 16;

export interface Figures {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  /** This process's CPU time (user + system) per request during the run, in µs (cannonInProcess only). */
  cpuUs?: number;
  /** The CPU time of the Postgres measurePostgres() named (postmaster and backends) per request, in µs. */
  pgCpuUs?: number;
}

let postgresPort: number | undefined;

/** cannonInProcess also reports the CPU time of the Postgres on `port` (Linux /proc; elsewhere nothing). */
export function measurePostgres(port: number): void {
  postgresPort = port;
}

/** µs of CPU the postmaster listening on `port` and its children have used so far (exited backends' in its cutime), or undefined. */
async function postgresCpuUs(port: number | undefined): Promise<number | undefined> {
  if (port === undefined || process.platform !== 'linux') return undefined;
  const { readdir, readFile } = await import('node:fs/promises');
  const stats: { pid: string; ppid: string; ticks: number; children: number }[] = [];
  let postmaster: string | undefined;
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const [cmdline, stat] = await Promise.all([readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')]);
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    stats.push({ pid, ppid: f[1], ticks: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) });
    const args = cmdline.split('\0');
    if (/postgres$/.test(args[0]) && args.includes('-p') && args[args.indexOf('-p') + 1] === String(port)) postmaster = pid;
  }
  if (!postmaster) return undefined;
  let ticks = 0;
  for (const s of stats) if (s.pid === postmaster) ticks += s.ticks + s.children;
  else if (s.ppid === postmaster) ticks += s.ticks;
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** `work` called in a loop by `concurrency` workers for `seconds` (a floor measured in-process): the figures of every call. */
export async function closedLoop(work: (i: number) => Promise<unknown>, concurrency = CONNECTIONS, seconds = SECONDS): Promise<Figures> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await work(n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** One autocannon run at CONNECTIONS for SECONDS; any non-2xx or error fails the bench. */
export async function cannon(opts: autocannon.Options): Promise<Figures> {
  const result = await autocannon({ connections: CONNECTIONS, duration: SECONDS, ...opts });
  if (result.non2xx || result.errors) throw new Error(`${opts.title}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  if (!result.requests.total) throw new Error(`${opts.title}: no request completed in ${SECONDS} s; raise BENCH_SECONDS`);
  return { requests: result.requests.total, rps: result.requests.total / result.duration, p50: result.latency.p50, p99: result.latency.p99 };
}

/**
 * `BENCH_PROFILE=<dir>`: each cannonInProcess run is CPU-profiled (node:inspector, 100 µs
 * sampling) into `<dir>/<title>.cpuprofile`, for Chrome DevTools or speedscope.
 */
const PROFILE_DIR = process.env.BENCH_PROFILE;

async function profiled<T>(title: string, run: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return run();
  const { Session } = await import('node:inspector/promises');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(PROFILE_DIR, { recursive: true });
    await writeFile(path.join(PROFILE_DIR, `${title.replace(/[^\w.-]+/g, '_')}.cpuprofile`), JSON.stringify(profile));
  }
}

/**
 * cannon() in a child process (bench/cannon-worker.ts), so the client's work is not the server's
 * event loop's; with this process's CPU time per request (the servers', not the client's).
 */
export async function cannonInProcess(job: Omit<CannonJob, 'connections' | 'duration'>): Promise<Figures> {
  return profiled(job.title, () => cannonChild(job));
}

/**
 * BENCH_WARMUP seconds (default 2) of the same load, not measured, before a server's first
 * measurement: the first requests of a process pay for compiling its hot paths and for opening
 * the pool's connections and preparing their statements, and a bench of a few seconds would
 * charge that to whichever case runs first (bench/rest.ts warms the product and the floor alike).
 */
export const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 2);

export async function warmUp(job: Omit<CannonJob, 'connections' | 'duration'>): Promise<void> {
  if (WARMUP_SECONDS > 0) await cannonChild({ ...job, title: `${job.title} (warm-up)` }, WARMUP_SECONDS);
}

async function cannonChild(job: Omit<CannonJob, 'connections' | 'duration'>, seconds = SECONDS): Promise<Figures> {
  const pg0 = await postgresCpuUs(postgresPort);
  const cpu = process.cpuUsage();
  const child = fork(fileURLToPath(new URL('./cannon-worker.ts', import.meta.url)), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  child.send({ connections: CONNECTIONS, duration: seconds, ...job } satisfies CannonJob);
  const [r] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${job.title}: the load generator exited`)))])) as [
    { total: number; duration: number; p50: number; p99: number; non2xx: number; errors: number },
  ];
  const used = process.cpuUsage(cpu);
  const pg1 = pg0 === undefined ? undefined : await postgresCpuUs(postgresPort);
  await exited;
  if (r.non2xx || r.errors) throw new Error(`${job.title}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  if (!r.total) throw new Error(`${job.title}: no request completed in ${seconds} s; raise BENCH_SECONDS`);
  return { requests: r.total, rps: r.total / r.duration, p50: r.p50, p99: r.p99, cpuUs: (used.user + used.system) / r.total, ...(pg1 !== undefined && { pgCpuUs: (pg1 - pg0!) / r.total }) };
}

export interface BenchStack {
  config: Config;
  stack: RunningStack;
  close(): Promise<void>;
}

/** The embedded stack on fresh ports and a temporary DATA_DIR, with `env` on top of the defaults. */
/**
 * The edge's per-tenant rate limits count per client address for anon callers: every request of
 * a bench comes from 127.0.0.1, so they are off. `METRICS_ENABLED=false npm run bench:rest`: the
 * same bench without the HTTP metrics.
 */
export const BENCH_LIMITS_ENV: Record<string, string> = {
  RATE_LIMIT_REST: '0',
  RATE_LIMIT_GRAPHQL: '0',
  RATE_LIMIT_STORAGE: '0',
  RATE_LIMIT_REALTIME: '0',
  RATE_LIMIT_AUTH: '0',
  ...(process.env.METRICS_ENABLED !== undefined && { METRICS_ENABLED: process.env.METRICS_ENABLED }),
};

export async function startBenchStack(env: Record<string, string> = {}): Promise<BenchStack> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-bench-'));
  await chmod(dir, 0o755);
  const config = await loadConfig({
    DATA_DIR: dir,
    PORT: String(await freePort()),
    POSTGRESQL_PORT: String(await freePort()),
    LOG_LEVEL: 'silent',
    ...BENCH_LIMITS_ENV,
    ...env,
  });
  config.host = '127.0.0.1';
  const stack = await startStack(config, pino({ level: 'silent' }));
  return {
    config,
    stack,
    async close() {
      await stack.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
