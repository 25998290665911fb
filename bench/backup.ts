/**
 * npm run bench:backup — backup and restore throughput of a database and storage objects
 * together, beside floors measured in the same run on the same bytes.
 *
 * Two cases, each on a throwaway stack (temp dirs in the OS temp dir, deleted after):
 *   base  the embedded Postgres: createBackup (backup/create.ts, base backup + WAL + objects, zstd)
 *         and restoreBackup into a fresh DATA_DIR (unpack, recover, objects back). Floor: `tar -cf`
 *         of DATA_DIR/postgres (without pg_wal, as a base backup) and DATA_DIR/storage into one
 *         file, and `tar -xf` of it.
 *   dump  an external Postgres (Debian's, /usr/lib/postgresql/<major>/bin, as compose's `db`):
 *         createDumpBackup (backup/dump.ts: pg_dump of one snapshot + objects, zstd) and
 *         restoreBackup into an empty database. Floor: `pg_dump --format=custom --compress=0` alone
 *         plus `tar -cf` of the objects, and `pg_restore` alone into an empty database plus `tar -xf`.
 *         Skipped when the machine has no such Postgres (or BENCH_BACKUP_DUMP=false).
 * Each fills a table to BENCH_BACKUP_DB_MB (default 1024) MB — rows half random (base64), half
 * repetitive text, so compression has something to do but not everything — and uploads
 * BENCH_BACKUP_OBJECTS_MB (default 1024) MB of random objects of 8 MiB through the storage API.
 * MB/s are of the source bytes (10^6 bytes/s): the database (data directory without pg_wal, or
 * pg_database_size for the dump) plus the objects.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createBackup } from '../backup/create.ts';
import { createDumpBackup } from '../backup/dump.ts';
import { libpqEnv } from '../backup/pg-tools.ts';
import { restoreBackup } from '../backup/restore.ts';
import { openStore } from '../backup/store.ts';
import { loadConfig } from '../config/load.ts';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { createBackend } from '../storage/backend/index.ts';
import { debianPostgresBin } from '../test/helpers/debian-postgres.ts';
import { freePort } from '../test/helpers/net.ts';
import { startBenchStack, type BenchStack } from './harness.ts';

const MB = 1e6;
const MiB = 1024 * 1024;
const DB_MB = Number(process.env.BENCH_BACKUP_DB_MB ?? 1024);
const OBJECTS_MB = Number(process.env.BENCH_BACKUP_OBJECTS_MB ?? 1024);
const OBJECT_SIZE = 8 * MiB;

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
const log = (line: string) => process.stderr.write(`${line}\n`);
const timed = (t0: number) => (l: string) => log(`  ${seconds(t0).toFixed(1)} s ${l}`);

interface Figures {
  label: string;
  source: string;
  sourceBytes: number;
  backup: number;
  restore: number;
  floorBackup: number;
  floorRestore: number;
  floorName: string;
}

/** The data set: a table of DB_MB MB, OBJECTS_MB MB of objects uploaded through the storage API. */
async function fill(bench: BenchStack, pool: pg.Pool): Promise<void> {
  const { config } = bench;
  log(`filling the database to ${DB_MB} MB …`);
  await pool.query('create table public.bench_rows (id bigserial primary key, payload text not null)');
  for (;;) {
    const { rows } = await pool.query<{ size: string }>('select pg_database_size(current_database()) as size');
    if (Number(rows[0].size) >= DB_MB * MB) break;
    await pool.query(`insert into public.bench_rows (payload) select encode(extensions.gen_random_bytes(300), 'base64') || repeat(' nextmavens', 40) from generate_series(1, 50000)`);
  }
  log(`uploading ${OBJECTS_MB} MB of objects …`);
  const headers = { authorization: `Bearer ${config.serviceRoleKey}`, apikey: config.serviceRoleKey };
  await fetch(`${bench.stack.url}/storage/v1/bucket`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
  for (let i = 0; i * OBJECT_SIZE < OBJECTS_MB * MB; i++) {
    const res = await fetch(`${bench.stack.url}/storage/v1/object/bench/o${i}.bin`, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: randomBytes(OBJECT_SIZE) });
    if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
  }
  await pool.query('checkpoint');
}

/** `tar` of `names` under `dir` into `file` (a file of a live cluster changing while read is not an error, as in the product's own tar). */
function tar(file: string, dir: string, names: string[], exclude: string[] = []): void {
  const r = spawnSync('tar', ['-cf', file, '-C', dir, '--warning=no-file-changed', ...exclude.map((e) => `--exclude=${e}`), ...names]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`tar failed: ${r.stderr}`);
}

async function baseCase(work: string): Promise<Figures> {
  const bench = await startBenchStack({ STORAGE_CLEANUP_INTERVAL: '0' });
  const { config } = bench;
  const pool = new pg.Pool({ connectionString: config.postgres.url, max: 2 });
  try {
    await fill(bench, pool);
    const pgDir = path.join(config.dataDir, 'postgres');
    const storageDir = path.join(config.dataDir, 'storage');
    const dbBytes = du(pgDir) - du(path.join(pgDir, 'pg_wal'));
    const sourceBytes = dbBytes + du(storageDir);

    const store = await openStore({ kind: 'dir', dir: path.join(work, 'target') });
    const backend = await createBackend(config);
    let t0 = performance.now();
    const backup = await createBackup({ url: config.postgres.url, pgDataDir: pgDir, store, backend, secretsFile: path.join(config.dataDir, 'secrets.json'), progress: timed(t0) });
    const backupSeconds = seconds(t0);
    backend.close?.();
    const stored = du(path.join(work, 'target'));
    const env = { DATA_DIR: path.join(work, 'restored'), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'silent' };
    t0 = performance.now();
    await restoreBackup({ config: await loadConfig(env), store, env, progress: timed(t0) }); // (it stops the recovered cluster)
    const restoreSeconds = seconds(t0);
    await rm(path.join(work, 'restored'), { recursive: true, force: true });

    t0 = performance.now();
    tar(path.join(work, 'floor.tar'), config.dataDir, ['postgres', 'storage'], ['postgres/pg_wal/*']);
    const tarSeconds = seconds(t0);
    await mkdir(path.join(work, 'floor'));
    t0 = performance.now();
    execFileSync('tar', ['-xf', path.join(work, 'floor.tar'), '-C', path.join(work, 'floor')]);
    const untarSeconds = seconds(t0);
    await rm(path.join(work, 'floor'), { recursive: true, force: true });
    await rm(path.join(work, 'floor.tar'), { force: true });
    await rm(path.join(work, 'target'), { recursive: true, force: true });
    return {
      label: 'base (embedded)',
      source: `database ${(dbBytes / MB).toFixed(0)} MB on disk without pg_wal (${backup.manifest.rows['public.bench_rows']} rows), ${backup.manifest.objects.length} objects ${(backup.manifest.bytes.objects / MB).toFixed(0)} MB; stored ${(stored / MB).toFixed(0)} MB (zstd)`,
      sourceBytes,
      backup: backupSeconds,
      restore: restoreSeconds,
      floorBackup: tarSeconds,
      floorRestore: untarSeconds,
      floorName: 'tar -cf / tar -xf',
    };
  } finally {
    await pool.end();
    await bench.close();
  }
}

async function dumpCase(work: string, bin: string): Promise<Figures> {
  const password = randomBytes(12).toString('hex');
  const port = await freePort();
  const server = new EmbeddedPostgres({ dataDir: path.join(work, 'external'), port, user: 'postgres', password, binDir: bin });
  await server.start();
  const url = (db: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
  let bench: BenchStack | undefined;
  let pool: pg.Pool | undefined;
  try {
    await server.ensureDatabase('app');
    bench = await startBenchStack({ STORAGE_CLEANUP_INTERVAL: '0', DATABASE_URL: url('app') });
    const { config } = bench;
    pool = new pg.Pool({ connectionString: config.postgres.url, max: 2 });
    await fill(bench, pool);
    const dbBytes = Number((await pool.query<{ size: string }>('select pg_database_size(current_database()) as size')).rows[0].size);
    const storageDir = path.join(config.dataDir, 'storage');
    const sourceBytes = dbBytes + du(storageDir);

    const store = await openStore({ kind: 'dir', dir: path.join(work, 'target') });
    const backend = await createBackend(config);
    let t0 = performance.now();
    const backup = await createDumpBackup({ url: config.postgres.url, store, backend, binDir: bin, progress: timed(t0) });
    const backupSeconds = seconds(t0);
    backend.close?.();
    const stored = du(path.join(work, 'target'));
    await server.ensureDatabase('restored');
    const env = { DATA_DIR: path.join(work, 'restored'), DATABASE_URL: url('restored'), JWT_SECRET: config.jwtSecret, LOG_LEVEL: 'silent' };
    t0 = performance.now();
    await restoreBackup({ config: await loadConfig(env), store, env, progress: timed(t0) });
    const restoreSeconds = seconds(t0);
    await rm(path.join(work, 'restored'), { recursive: true, force: true });
    await rm(path.join(work, 'target'), { recursive: true, force: true });

    // Floors: pg_dump and pg_restore alone (no snapshot, no compression, no checksums), tar of the objects.
    const dumpFile = path.join(work, 'floor.dump');
    t0 = performance.now();
    execFileSync(path.join(bin, 'pg_dump'), ['--format=custom', '--compress=0', `--file=${dumpFile}`, '--dbname=app'], { env: { ...process.env, ...libpqEnv(url('app')) } });
    tar(path.join(work, 'floor.tar'), config.dataDir, ['storage']);
    const floorBackup = seconds(t0);
    await server.ensureDatabase('floor');
    await mkdir(path.join(work, 'floor'));
    t0 = performance.now();
    // (exit 1: warnings about the extensions' objects the empty database already has)
    const r = spawnSync(path.join(bin, 'pg_restore'), ['--dbname=floor', dumpFile], { env: { ...process.env, ...libpqEnv(url('floor')) } });
    if (r.status !== 0 && r.status !== 1) throw new Error(`pg_restore failed: ${r.stderr}`);
    execFileSync('tar', ['-xf', path.join(work, 'floor.tar'), '-C', path.join(work, 'floor')]);
    const floorRestore = seconds(t0);
    await rm(path.join(work, 'floor'), { recursive: true, force: true });
    await rm(dumpFile, { force: true });
    await rm(path.join(work, 'floor.tar'), { force: true });
    return {
      label: `dump (external PostgreSQL ${backup.manifest.postgres.version.split(' ')[0]})`,
      source: `database ${(dbBytes / MB).toFixed(0)} MB (pg_database_size, ${backup.manifest.rows['public.bench_rows']} rows), ${backup.manifest.objects.length} objects ${(backup.manifest.bytes.objects / MB).toFixed(0)} MB; stored ${(stored / MB).toFixed(0)} MB (zstd)`,
      sourceBytes,
      backup: backupSeconds,
      restore: restoreSeconds,
      floorBackup,
      floorRestore,
      floorName: 'pg_dump + tar / pg_restore + tar -xf',
    };
  } finally {
    await pool?.end();
    await bench?.close();
    await server.stop();
  }
}

function report(f: Figures): string[] {
  const rate = (s: number) => `${(f.sourceBytes / MB / s).toFixed(0).padStart(5)} MB/s`;
  return [
    `${f.label}: ${f.source}`,
    `                 product                    floor (${f.floorName})   product/floor`,
    `  backup    ${rate(f.backup)}  (${f.backup.toFixed(1)} s)          ${rate(f.floorBackup)}  (${f.floorBackup.toFixed(1)} s)            ${(f.floorBackup / f.backup).toFixed(2)}`,
    `  restore   ${rate(f.restore)}  (${f.restore.toFixed(1)} s)          ${rate(f.floorRestore)}  (${f.floorRestore.toFixed(1)} s)            ${(f.floorRestore / f.restore).toFixed(2)}`,
    '',
  ];
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-bench-backup-'));
  await chmod(work, 0o755);
  const lines: string[] = [];
  try {
    lines.push(...report(await baseCase(work)));
    const bin = process.env.BENCH_BACKUP_DUMP === 'false' ? undefined : debianPostgresBin();
    if (bin) lines.push(...report(await dumpCase(work, bin)));
    else lines.push('dump: skipped (no PostgreSQL server and client tools under /usr/lib/postgresql, or BENCH_BACKUP_DUMP=false)');
    lines.push(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
