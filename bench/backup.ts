/**
 * npm run bench:backup — backup and restore throughput of a database and storage objects
 * together, beside the floor of copying the same bytes with plain tar in the same run.
 *
 * Starts the whole stack on a throwaway embedded Postgres (DATA_DIR in the OS temp dir), fills a
 * table to BENCH_BACKUP_DB_MB (default 1024) MB on disk — rows half random (base64), half
 * repetitive text, so compression has something to do but not everything — and uploads
 * BENCH_BACKUP_OBJECTS_MB (default 1024) MB of random objects of 8 MiB through the storage API.
 * Then, timed:
 *   backup   createBackup (backup/create.ts) into a directory target: base backup + WAL + objects, zstd
 *   restore  restoreBackup (backup/restore.ts) into a fresh DATA_DIR: unpack, recover, objects back
 *   floor    `tar -cf` of DATA_DIR/postgres (without pg_wal, as a base backup) and DATA_DIR/storage into one file, and `tar -xf` of it
 * MB/s are of the source bytes (10^6 bytes/s): the data directory plus the objects.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createBackup } from '../backup/create.ts';
import { restoreBackup } from '../backup/restore.ts';
import { openStore } from '../backup/store.ts';
import { loadConfig } from '../config/load.ts';
import { createBackend } from '../storage/backend/index.ts';
import { freePort } from '../test/helpers/net.ts';
import { startBenchStack } from './harness.ts';

const MB = 1e6;
const MiB = 1024 * 1024;
const DB_MB = Number(process.env.BENCH_BACKUP_DB_MB ?? 1024);
const OBJECTS_MB = Number(process.env.BENCH_BACKUP_OBJECTS_MB ?? 1024);
const OBJECT_SIZE = 8 * MiB;

const seconds = (t0: number) => (performance.now() - t0) / 1000;
const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);

async function main() {
  const bench = await startBenchStack({ STORAGE_CLEANUP_INTERVAL: '0' });
  const { config } = bench;
  const work = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-bench-backup-'));
  await chmod(work, 0o755);
  const pool = new pg.Pool({ connectionString: config.postgres.url, max: 2 });
  try {
    process.stderr.write(`filling the database to ${DB_MB} MB …\n`);
    await pool.query('create table public.bench_rows (id bigserial primary key, payload text not null)');
    for (;;) {
      const { rows } = await pool.query<{ size: string }>('select pg_database_size(current_database()) as size');
      if (Number(rows[0].size) >= DB_MB * MB) break;
      await pool.query(`insert into public.bench_rows (payload) select encode(extensions.gen_random_bytes(300), 'base64') || repeat(' nextmavens', 40) from generate_series(1, 50000)`);
    }
    process.stderr.write(`uploading ${OBJECTS_MB} MB of objects …\n`);
    const headers = { authorization: `Bearer ${config.serviceRoleKey}`, apikey: config.serviceRoleKey };
    await fetch(`${bench.stack.url}/storage/v1/bucket`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
    for (let i = 0; i * OBJECT_SIZE < OBJECTS_MB * MB; i++) {
      const res = await fetch(`${bench.stack.url}/storage/v1/object/bench/o${i}.bin`, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: randomBytes(OBJECT_SIZE) });
      if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    }
    await pool.query('checkpoint');
    const pgDir = path.join(config.dataDir, 'postgres');
    const storageDir = path.join(config.dataDir, 'storage');
    const sourceBytes = du(pgDir) - du(path.join(pgDir, 'pg_wal')) + du(storageDir);

    // The product: backup, then restore into a fresh DATA_DIR.
    const store = await openStore({ kind: 'dir', dir: path.join(work, 'target') });
    const backend = await createBackend(config);
    let t0 = performance.now();
    const backup = await createBackup({ url: config.postgres.url, pgDataDir: pgDir, store, backend, secretsFile: path.join(config.dataDir, 'secrets.json'), progress: (l) => process.stderr.write(`  ${seconds(t0).toFixed(1)} s ${l}\n`) });
    const backupSeconds = seconds(t0);
    backend.close?.();
    const stored = du(path.join(work, 'target'));
    const env = { DATA_DIR: path.join(work, 'restored'), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'silent' };
    t0 = performance.now();
    await restoreBackup({ config: await loadConfig(env), store, env, progress: (l) => process.stderr.write(`  ${seconds(t0).toFixed(1)} s ${l}\n`) });
    const restoreSeconds = seconds(t0);

    // The floor: the same bytes through plain tar, no compression, no checksums.
    t0 = performance.now();
    // (exit 1: a file of the live cluster changed while read, as in the product's own tar)
    const floor = spawnSync('tar', ['-cf', path.join(work, 'floor.tar'), '-C', config.dataDir, '--warning=no-file-changed', '--exclude=postgres/pg_wal/*', 'postgres', 'storage']);
    if (floor.status !== 0 && floor.status !== 1) throw new Error(`tar failed: ${floor.stderr}`);
    const tarSeconds = seconds(t0);
    execFileSync('mkdir', [path.join(work, 'floor')]);
    t0 = performance.now();
    execFileSync('tar', ['-xf', path.join(work, 'floor.tar'), '-C', path.join(work, 'floor')]);
    const untarSeconds = seconds(t0);

    const rate = (s: number) => `${(sourceBytes / MB / s).toFixed(0).padStart(5)} MB/s`;
    const lines = [
      `source: database ${((du(pgDir) - du(path.join(pgDir, 'pg_wal'))) / MB).toFixed(0)} MB on disk (without pg_wal) (${backup.manifest.rows['public.bench_rows']} rows), ${backup.manifest.objects.length} objects ${(backup.manifest.bytes.objects / MB).toFixed(0)} MB; stored ${(stored / MB).toFixed(0)} MB (zstd)`,
      '',
      `                 product                    floor (plain tar, same bytes)   product/floor`,
      `  backup    ${rate(backupSeconds)}  (${backupSeconds.toFixed(1)} s)          ${rate(tarSeconds)}  (${tarSeconds.toFixed(1)} s)            ${(tarSeconds / backupSeconds).toFixed(2)}`,
      `  restore   ${rate(restoreSeconds)}  (${restoreSeconds.toFixed(1)} s)          ${rate(untarSeconds)}  (${untarSeconds.toFixed(1)} s)            ${(untarSeconds / restoreSeconds).toFixed(2)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await pool.end();
    await bench.close();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
