/**
 * npm run bench:storage — storage upload and download throughput on the fs backend, beside the
 * figures the real supabase/storage server (fs backend) gave on the same 2-core machine, and
 * beside the floor of plain file I/O on the same disk.
 *
 * Starts the whole stack on a throwaway embedded Postgres with DATA_DIR in the OS temp dir, a
 * private bucket `bench` and storage.objects policies (insert and select of one's own objects,
 * `owner_id = auth.jwt()->>'sub'`), so RLS decides every request; the client is an
 * `authenticated` user with a JWT, through the gateway (`/storage/v1/…`):
 *   upload   POST /storage/v1/object/bench/<key>, raw body (application/octet-stream)
 *   download GET  /storage/v1/object/bench/<key> (storage-js `download`) with the same JWT, drained
 * Phases: BENCH_SMALL_COUNT (default 500) 64 KiB objects by BENCH_CONCURRENCY (default 10)
 * concurrent clients, as the reference was measured; BENCH_LARGE_COUNT (default 3) 64 MiB objects
 * one after the other. The client runs in a child process (this file with `--client`), so its
 * HTTP work is not the server's event loop's, and peak RSS is the server's (this process: the
 * whole stack but Postgres). Postgres's committed and rolled-back transactions per small upload
 * and download come from pg_stat_database (deltas, minus the stack's idle rate over the same time).
 *
 * The floor, in the same DATA_DIR and with the same concurrency: the body streamed into a file
 * (write) and that file read to nowhere (read), in this process, no HTTP.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const KiB = 1024;
const MiB = 1024 * 1024;
const SMALL = 64 * KiB;
const LARGE = 64 * MiB;
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 500);
const LARGE_COUNT = Number(process.env.BENCH_LARGE_COUNT ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 10);

/**
 * supabase/storage (fs backend) measured earlier on this machine with the same phases: 64 KiB
 * objects by 10 concurrent clients, 64 MiB objects one after the other.
 */
const REFERENCE = {
  smallUp: [193, 200], // uploads/s
  smallDown: [396, 455], // downloads/s
  largeUp: [116, 122], // MB/s
  largeDown: [84, 93], // MB/s
} as const;

/** `size` bytes in chunks of at most 1 MiB, generated as read. */
function body(size: number): Readable {
  const chunk = Buffer.alloc(Math.min(size, MiB), 0x5a);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

/** `count` calls of `fn` by `concurrency` workers; seconds taken. */
async function timed(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
  return (performance.now() - start) / 1000;
}

// ------------------------------------------------------------------------------------ client

interface ClientJob {
  url: string;
  token: string;
  prefix: string;
  op: 'upload' | 'download';
  size: number;
  count: number;
  concurrency: number;
}

async function client(): Promise<void> {
  const [job] = (await once(process, 'message')) as [ClientJob];
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.concurrency });
  const headers = { authorization: `Bearer ${job.token}` };
  const upload = (key: string) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(`${job.url}/storage/v1/object/bench/${key}`, {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(job.size) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`upload ${key}: HTTP ${res.statusCode} ${Buffer.concat(chunks)}`))));
      });
      req.on('error', reject);
      body(job.size).pipe(req);
    });
  const download = (key: string) =>
    new Promise<void>((resolve, reject) => {
      http.get(`${job.url}/storage/v1/object/bench/${key}`, { agent, headers }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`download ${key}: HTTP ${res.statusCode}`));
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => (n === job.size ? resolve() : reject(new Error(`download ${key}: ${n} of ${job.size} bytes`))));
        res.on('error', reject);
      }).on('error', reject);
    });
  const seconds = await timed(job.count, job.concurrency, (i) => (job.op === 'upload' ? upload : download)(`${job.prefix}-${i}`));
  agent.destroy();
  process.send!({ seconds });
}

/** One client run in a child process; seconds taken. */
async function runClient(job: ClientJob): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ['--client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  child.send(job);
  const [r] = (await Promise.race([once(child, 'message'), exited.then(() => Promise.reject(new Error(`${job.op} ${job.prefix}: the client exited`)))])) as [{ seconds: number }];
  await exited;
  return r.seconds;
}

// ------------------------------------------------------------------------------------ server

/** CPU seconds (user + system) of the Postgres server whose data directory is under `dir`: the postmaster and its children. */
async function postgresCpu(dir: string): Promise<number> {
  const { readdir, readFile } = await import('node:fs/promises');
  const tick = 100; // USER_HZ on Linux
  const procs: { pid: string; ppid: string; cpu: number; cmd: string }[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      procs.push({ pid, ppid: f[1], cpu: (Number(f[11]) + Number(f[12])) / tick, cmd });
    } catch {
      // gone meanwhile
    }
  }
  const master = procs.find((p) => p.cmd.includes('postgres') && p.cmd.includes(dir));
  if (!master) return NaN;
  return procs.filter((p) => p.pid === master.pid || p.ppid === master.pid).reduce((sum, p) => sum + p.cpu, 0);
}

/** `fn`'s CPU seconds in this process (the stack but Postgres) and in Postgres. */
async function cpuOf<T>(dir: string, fn: () => Promise<T>): Promise<{ result: T; node: number; postgres: number }> {
  const pg0 = await postgresCpu(dir);
  const node0 = process.cpuUsage();
  const result = await fn();
  const node = process.cpuUsage(node0);
  return { result, node: (node.user + node.system) / 1e6, postgres: (await postgresCpu(dir)) - pg0 };
}

/** Samples RSS every 20 ms while `fn` runs. */
async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await fn();
    return { result, peak: Math.max(peak, process.memoryUsage.rss()) };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const { startBenchStack } = await import('./harness.ts');
  const { SignJWT } = await import('jose');
  const { default: pg } = await import('pg');
  const { config, stack, close } = await startBenchStack({ STORAGE_BACKEND: 'fs', STORAGE_CLEANUP_INTERVAL: '0' });
  const dir = config.dataDir;
  const admin = new pg.Client({ connectionString: config.postgres.url });
  await admin.connect();
  await admin.query(`insert into storage.buckets (id, name) values ('bench', 'bench')`);
  await admin.query(`create policy "bench own objects" on storage.objects for insert to authenticated
                       with check (bucket_id = 'bench' and owner_id = auth.jwt()->>'sub')`);
  await admin.query(`create policy "bench read own" on storage.objects for select to authenticated
                       using (bucket_id = 'bench' and owner_id = auth.jwt()->>'sub')`);
  const user = crypto.randomUUID();
  const token = await new SignJWT({ role: 'authenticated', sub: user, aud: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(config.jwtSecret));

  /**
   * Committed and rolled-back transactions of the database so far. A backend reports its counts
   * when it goes idle, at most once a second, and an idle pooled connection's last ones only after
   * 10 s (Postgres's PGSTAT_IDLE_INTERVAL): wait for them.
   */
  const xacts = async () => {
    await sleep(11_000);
    await admin.query('select pg_stat_clear_snapshot()');
    const { rows } = await admin.query<{ c: string; r: string }>(`select xact_commit as c, xact_rollback as r from pg_stat_database where datname = current_database()`);
    return { commit: Number(rows[0].c), rollback: Number(rows[0].r), at: performance.now() };
  };
  /** Transactions per call of `n` calls of `fn`, minus the idle rate measured just before. */
  let idleRate = { commit: 0, rollback: 0 };
  const measureIdle = async () => {
    const a = await xacts();
    const b = await xacts();
    const s = (b.at - a.at) / 1000;
    // Each xacts() call itself commits one transaction (the stats query).
    idleRate = { commit: (b.commit - a.commit - 1) / s, rollback: (b.rollback - a.rollback) / s };
  };
  const perCall = async <T>(n: number, fn: () => Promise<T>): Promise<{ result: T; commit: number; rollback: number }> => {
    const a = await xacts();
    const result = await fn();
    const b = await xacts();
    const s = (b.at - a.at) / 1000;
    return { result, commit: (b.commit - a.commit - 1 - idleRate.commit * s) / n, rollback: (b.rollback - a.rollback - idleRate.rollback * s) / n };
  };

  const floorDir = path.join(dir, 'floor');
  await mkdir(floorDir, { recursive: true });
  const floorFile = (i: number) => path.join(floorDir, `f${i}`);
  const floor = async (size: number, count: number, concurrency: number) => {
    const write = await timed(count, concurrency, (i) => pipeline(body(size), createWriteStream(floorFile(i))));
    const read = await timed(count, concurrency, (i) => pipeline(createReadStream(floorFile(i)), sink()));
    await rm(floorDir, { recursive: true, force: true });
    await mkdir(floorDir);
    return { write, read };
  };
  const job = (op: ClientJob['op'], prefix: string, size: number, count: number, concurrency: number): ClientJob => ({ url: stack.url, token, prefix, op, size, count, concurrency });

  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  await measureIdle();

  // 64 KiB objects, CONCURRENCY clients.
  const smallFloor = await floor(SMALL, SMALL_COUNT, CONCURRENCY);
  await runClient(job('upload', 'warm', SMALL, 50, CONCURRENCY));
  await runClient(job('download', 'warm', SMALL, 50, CONCURRENCY));
  const up = await perCall(SMALL_COUNT, () => cpuOf(dir, () => runClient(job('upload', 's', SMALL, SMALL_COUNT, CONCURRENCY))));
  const down = await perCall(SMALL_COUNT, () => cpuOf(dir, () => runClient(job('download', 's', SMALL, SMALL_COUNT, CONCURRENCY))));
  const smallUp = { ...up, result: up.result.result };
  const smallDown = { ...down, result: down.result.result };
  const smallUpCpu = up.result;
  const smallDownCpu = down.result;

  // 64 MiB objects, one at a time.
  const largeFloor = await floor(LARGE, LARGE_COUNT, 1);
  globalThis.gc?.();
  const before = process.memoryUsage.rss();
  const largeUpCpu = await cpuOf(dir, () => withPeakRss(() => runClient(job('upload', 'l', LARGE, LARGE_COUNT, 1))));
  const largeDownCpu = await cpuOf(dir, () => withPeakRss(() => runClient(job('download', 'l', LARGE, LARGE_COUNT, 1))));
  const largeUp = largeUpCpu.result;
  const largeDown = largeDownCpu.result;
  const perMB = (seconds: number) => ((seconds * 1e3) / ((LARGE * LARGE_COUNT) / 1e6)).toFixed(2);

  const range = (r: readonly number[]) => `${r[0]}–${r[1]}`;
  const line = (label: string, value: number, unit: string, ref: readonly number[], floorValue: number) =>
    `  ${label.padEnd(9)} ${value.toFixed(0).padStart(6)} ${unit}   reference ${range(ref).padStart(9)} ${unit}   ×${(value / ref[1]).toFixed(2)} of its top   ` +
    `floor ${floorValue.toFixed(0).padStart(6)} ${unit} (${(value / floorValue).toFixed(2)})\n`;
  const mb = (size: number, count: number, s: number) => (size * count) / 1e6 / s;
  const us = (seconds: number) => ((seconds * 1e6) / SMALL_COUNT).toFixed(0);
  const tx = (p: { commit: number; rollback: number }) => `${p.commit.toFixed(2)} committed + ${p.rollback.toFixed(2)} rolled back`;
  process.stdout.write(
    `\nstorage (fs backend, ${dir}) as an authenticated user under RLS, through the gateway; ${os.cpus().length} cores, load average ${load}\n` +
      `reference: supabase/storage (fs backend) measured earlier on this machine; floor: plain file I/O here, no HTTP\n\n` +
      `64 KiB objects, ${SMALL_COUNT} by ${CONCURRENCY} concurrent clients\n` +
      line('upload', SMALL_COUNT / smallUp.result, 'req/s', REFERENCE.smallUp, SMALL_COUNT / smallFloor.write) +
      line('download', SMALL_COUNT / smallDown.result, 'req/s', REFERENCE.smallDown, SMALL_COUNT / smallFloor.read) +
      `  Postgres transactions per upload: ${tx(smallUp)}; per download: ${tx(smallDown)}\n` +
      `  CPU per upload: server ${us(smallUpCpu.node)} µs, Postgres ${us(smallUpCpu.postgres)} µs; per download: server ${us(smallDownCpu.node)} µs, Postgres ${us(smallDownCpu.postgres)} µs\n\n` +
      `64 MiB objects, ${LARGE_COUNT} one after the other\n` +
      line('upload', mb(LARGE, LARGE_COUNT, largeUp.result), 'MB/s ', REFERENCE.largeUp, mb(LARGE, LARGE_COUNT, largeFloor.write)) +
      line('download', mb(LARGE, LARGE_COUNT, largeDown.result), 'MB/s ', REFERENCE.largeDown, mb(LARGE, LARGE_COUNT, largeFloor.read)) +
      `  CPU per MB: upload server ${perMB(largeUpCpu.node)} ms, Postgres ${perMB(largeUpCpu.postgres)} ms; download server ${perMB(largeDownCpu.node)} ms, Postgres ${perMB(largeDownCpu.postgres)} ms\n` +
      `  peak RSS of the server process: upload +${((largeUp.peak - before) / 1e6).toFixed(0)} MB, download +${((largeDown.peak - before) / 1e6).toFixed(0)} MB ` +
      `(baseline ${(before / 1e6).toFixed(0)} MB)\n`,
  );
  await admin.end();
  await close();
}

if (process.argv.includes('--client')) {
  client().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
