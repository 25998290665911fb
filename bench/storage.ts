/**
 * npm run bench:storage — storage upload and download throughput on the fs backend against the
 * floor of plain file I/O on the same disk, and peak RSS while 256 MiB objects stream through.
 *
 * Starts the whole stack on a throwaway embedded Postgres with DATA_DIR in the OS temp dir, then
 * for 1 MiB objects (BENCH_SMALL_COUNT of them, default 64) and 256 MiB objects (BENCH_LARGE_COUNT,
 * default 2):
 *   upload   POST /storage/v1/object/bench/<key> with a raw body streamed from a generator
 *   download GET of the same object, drained as it arrives
 * and, for the floor, in the same DATA_DIR: the generator piped into a file (write), that file
 * read to nowhere (read) and fs.copyFile of it (copy). Client and server share this process, as
 * RSS figures then cover both: peak RSS minus the RSS before the 256 MiB transfers.
 * Prints MB/s (10^6 bytes/s) for each and the ratio storage/floor.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SignJWT } from 'jose';
import pg from 'pg';
import { startBenchStack } from './harness.ts';

const MiB = 1024 * 1024;
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 64);
const LARGE_COUNT = Number(process.env.BENCH_LARGE_COUNT ?? 2);

/** `size` bytes in 1 MiB chunks (or one smaller chunk), generated as read. */
function body(size: number): Readable {
  const chunk = Buffer.alloc(Math.min(size, MiB), 0x5a);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n === chunk.length ? Buffer.from(chunk) : chunk.subarray(0, n));
    },
  });
}

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

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

/** MB/s of `count` sequential runs of `fn`, each moving `size` bytes. */
async function rate(size: number, count: number, fn: (i: number) => Promise<void>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return (size * count) / 1e6 / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const { config, stack, close } = await startBenchStack({ STORAGE_BACKEND: 'fs', STORAGE_CLEANUP_INTERVAL: '0' });
  const dir = config.dataDir;
  const admin = new pg.Client({ connectionString: config.postgres.url });
  await admin.connect();
  await admin.query(`insert into storage.buckets (id, name) values ('bench', 'bench')`);
  await admin.end();
  const token = await new SignJWT({ role: 'service_role' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(config.jwtSecret));
  const agent = new http.Agent({ keepAlive: true });
  const objectUrl = (key: string) => new URL(`${stack.url}/storage/v1/object/bench/${key}`);

  const upload = (key: string, size: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(objectUrl(key), {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(size), 'x-upsert': 'true' },
      }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`upload ${key}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      body(size).pipe(req);
    });
  const download = (key: string) =>
    new Promise<void>((resolve, reject) => {
      http.get(objectUrl(key), { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`download ${key}: HTTP ${res.statusCode}`));
        pipeline(res, sink()).then(resolve, reject);
      }).on('error', reject);
    });

  const floorDir = path.join(dir, 'floor');
  await rm(floorDir, { recursive: true, force: true });
  await mkdir(floorDir);
  const floorFile = (i: number) => path.join(floorDir, `f${i}`);

  interface Row { label: string; up: number; down: number; write: number; read: number; copy: number }
  const rows: Row[] = [];
  const rss: string[] = [];
  for (const [label, size, count] of [['1 MiB', MiB, SMALL_COUNT], ['256 MiB', 256 * MiB, LARGE_COUNT]] as const) {
    const write = await rate(size, count, (i) => pipeline(body(size), createWriteStream(floorFile(i))));
    const read = await rate(size, count, (i) => pipeline(createReadStream(floorFile(i)), sink()));
    const copy = await rate(size, count, (i) => copyFile(floorFile(i), `${floorFile(i)}.copy`));
    await rm(floorDir, { recursive: true, force: true });
    await mkdir(floorDir);

    globalThis.gc?.();
    const before = process.memoryUsage.rss();
    const up = await withPeakRss(() => rate(size, count, (i) => upload(`${label.replace(' ', '')}-${i}`, size)));
    const down = await withPeakRss(() => rate(size, count, (i) => download(`${label.replace(' ', '')}-${i}`)));
    rows.push({ label, up: up.result, down: down.result, write, read, copy });
    if (size > MiB) {
      rss.push(
        `peak RSS during the ${label} transfers: upload +${((up.peak - before) / 1e6).toFixed(0)} MB, download +${((down.peak - before) / 1e6).toFixed(0)} MB ` +
          `(baseline ${(before / 1e6).toFixed(0)} MB; client and server in this process)`,
      );
    }
  }

  const f = (n: number) => `${n.toFixed(0).padStart(6)} MB/s`;
  process.stdout.write(`\nstorage (fs backend) vs plain file I/O on the same disk (${dir}), ${os.cpus().length} cores\n\n`);
  for (const r of rows) {
    const n = r.label === '1 MiB' ? SMALL_COUNT : LARGE_COUNT;
    process.stdout.write(
      `${r.label} objects (${n} sequential)\n` +
        `  upload  : ${f(r.up)}   floor write (stream → file): ${f(r.write)}   ratio ${(r.up / r.write).toFixed(2)}\n` +
        `  download: ${f(r.down)}   floor read  (file → stream): ${f(r.read)}   ratio ${(r.down / r.read).toFixed(2)}\n` +
        `  (fs.copyFile of the same files: ${f(r.copy)})\n\n`,
    );
  }
  for (const line of rss) process.stdout.write(`${line}\n`);
  agent.destroy();
  await close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
