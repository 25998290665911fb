/**
 * `nextmavens backup`: the database and the storage objects, consistent with each other.
 *
 * 1. Blob deletions are held off (db/blob-guard.ts) for the whole backup.
 * 2. A base backup of the embedded cluster: pg_backup_start, the data directory as tar+zstd,
 *    pg_backup_stop (backup/pgdata.ts).
 * 3. The restore point: every table is locked against writes for an instant, a REPEATABLE READ
 *    snapshot is taken in a second session and a named restore point is written, then the locks
 *    go. Recovery stops at that restore point, so the restored database is exactly that
 *    snapshot: its row counts and its storage.objects rows are read from it at leisure.
 * 4. The WAL from the backup's start to the restore point, as tar+zstd.
 * 5. Exactly the blobs the snapshot's rows reference, each stored once across backups
 *    (storage/backend/archive.ts). None can have been deleted since the snapshot (step 1).
 * 6. The manifest (checksums, counts, restore point), last; then retention (BACKUP_KEEP).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { holdBlobDeletions } from '../db/blob-guard.ts';
import { archiveBlob, compress, sha256Meter, type ArchivedBlob } from '../storage/backend/archive.ts';
import { blobKey, type StorageBackend } from '../storage/backend/index.ts';
import { manifestFile, newBackupId, type BackupManifest, type BaseManifest, type StoredPart } from './manifest.ts';
import { tarDataDir, tarWal } from './pgdata.ts';
import { applyRetention } from './retention.ts';
import type { BackupStore } from './store.ts';

export interface BackupOptions {
  /** Superuser URL of the database to back up. */
  url: string;
  /** The cluster's data directory (the embedded Postgres's DATA_DIR/postgres). */
  pgDataDir: string;
  store: BackupStore;
  backend: StorageBackend;
  /** DATA_DIR/secrets.json, kept with the backup (the restored cluster's passwords and the JWT secret). */
  secretsFile?: string;
  /** Backups kept after this one (BACKUP_KEEP); undefined: no retention run. */
  keep?: number;
  /** Progress lines (the CLI prints them). */
  progress?: (line: string) => void;
}

export interface BackupResult {
  id: string;
  /** Where the backup is: `<target>/backups/<id>`. */
  location: string;
  manifest: BackupManifest;
}

const MB = 1024 * 1024;
/** Objects copied at once (reads and writes overlap; the hashing and compression share the CPU). */
export const OBJECTS_IN_FLIGHT = 4;

/** Runs `fn` over `items` with at most `limit` running at once; the first failure fails the whole. */
export async function inParallel<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

/** Streams `body` through zstd into `name` of the store, returning what was stored; `progress` sees the bytes read. */
export async function storeCompressed(store: BackupStore, name: string, body: Readable, progress?: (bytes: number) => void): Promise<StoredPart> {
  let read = 0;
  body.on('data', (c: Buffer) => {
    read += c.length;
    progress?.(read);
  });
  const meter = sha256Meter();
  const out = new PassThrough();
  await Promise.all([pipeline(body, compress(), meter, out), store.write(name, out)]);
  return { file: name, size: meter.size, sha256: meter.digest() };
}

export function throttle(fn: (n: number) => void, everyBytes = 64 * MB): (n: number) => void {
  let next = everyBytes;
  return (n) => {
    if (n >= next) {
      next = n + everyBytes;
      fn(n);
    }
  };
}

/**
 * The user tables of the connected database, qualified and quoted. Only permanent ones: an UNLOGGED
 * table (nextmavens.request_log) writes no WAL, so a base backup or a recovery brings back its init
 * fork only — it is empty after every restore by design, and its count is not the backup's to check.
 */
async function tables(c: pg.ClientBase): Promise<{ name: string; sql: string }[]> {
  const { rows } = await c.query<{ schema: string; table: string }>(
    `select n.nspname as schema, c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and c.relpersistence = 'p' and not c.relispartition and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%' order by 1, 2`,
  );
  return rows.map((r) => ({ name: `${r.schema}.${r.table}`, sql: `${c.escapeIdentifier(r.schema)}.${c.escapeIdentifier(r.table)}` }));
}

/**
 * Locks every table against writes (briefly), takes `snapshot`'s REPEATABLE READ snapshot and
 * writes a restore point while nothing can change; the restore point's LSN and time.
 */
async function freezePoint(locker: pg.Client, snapshot: pg.Client, name: string): Promise<{ lsn: string; time: string }> {
  for (let attempt = 1; ; attempt++) {
    await locker.query('begin');
    try {
      await locker.query(`set local lock_timeout = '5s'`);
      const list = await tables(locker);
      await locker.query(`lock table ${list.map((t) => t.sql).join(', ')} in share mode`);
      await snapshot.query('begin isolation level repeatable read read only');
      await snapshot.query('select 1'); // the snapshot is taken here
      const { rows } = await locker.query<{ lsn: string; time: Date }>('select pg_create_restore_point($1)::text as lsn, clock_timestamp() as time', [name]);
      await locker.query('commit');
      return { lsn: rows[0].lsn, time: rows[0].time.toISOString() };
    } catch (err) {
      await locker.query('rollback').catch(() => undefined);
      await snapshot.query('rollback').catch(() => undefined);
      // A long writer holds a table: try again a few times, then give up with the reason.
      if ((err as { code?: string }).code !== '55P03' || attempt >= 5) throw err;
    }
  }
}

/** Every table's exact row count and the storage.objects rows, read in `snap`'s open snapshot. */
export async function readSnapshot(snap: pg.ClientBase): Promise<{ rows: Record<string, number>; objectRows: { bucket_id: string; name: string; version: string }[] }> {
  const rows: Record<string, number> = {};
  for (const t of await tables(snap)) rows[t.name] = Number((await snap.query<{ n: string }>(`select count(*) as n from ${t.sql}`)).rows[0].n);
  const { rows: objectRows } = await snap.query<{ bucket_id: string; name: string; version: string }>(`select bucket_id, name, version from storage.objects order by bucket_id, name`);
  return { rows, objectRows };
}

/** Exactly the blobs of `objectRows` into the store, each stored once across backups (storage/backend/archive.ts). */
export async function archiveObjects(
  store: BackupStore,
  backend: StorageBackend,
  objectRows: { bucket_id: string; name: string; version: string }[],
  progress?: (line: string) => void,
): Promise<{ objects: ArchivedBlob[]; objectBytes: number; stored: number }> {
  const objects: ArchivedBlob[] = new Array(objectRows.length);
  let objectBytes = 0;
  let stored = 0;
  let done = 0;
  let last = Date.now();
  await inParallel(objectRows, OBJECTS_IN_FLIGHT, async (row, i) => {
    const blob = await archiveBlob(store, backend, blobKey(row));
    objects[i] = { key: blob.key, size: blob.size, sha256: blob.sha256, file: blob.file };
    objectBytes += blob.size;
    if (blob.written) stored += blob.size;
    done++;
    if (Date.now() - last > 2000 || done === objectRows.length) {
      last = Date.now();
      progress?.(`objects: ${done}/${objectRows.length} (${mb(objectBytes)}, ${mb(stored)} new)`);
    }
  });
  return { objects, objectBytes, stored };
}

/** The manifest, written last (its presence means complete), then retention (BACKUP_KEEP). */
export async function finishBackup(store: BackupStore, manifest: BackupManifest, keep: number | undefined, progress?: (line: string) => void): Promise<BackupResult> {
  await store.write(manifestFile(manifest.id), PassThrough.from([Buffer.from(JSON.stringify(manifest, null, 2) + '\n')]) as Readable);
  if (keep !== undefined) {
    const removed = await applyRetention(store, keep);
    if (removed.backups.length) progress?.(`retention: removed ${removed.backups.length} old backup(s), ${removed.blobs} object file(s), ${removed.wal} WAL file(s)`);
  }
  return { id: manifest.id, location: `${store.location}/backups/${manifest.id}`, manifest };
}

export async function createBackup(opts: BackupOptions): Promise<BackupResult> {
  const { store, progress } = opts;
  const startedAt = new Date();
  const id = newBackupId(startedAt);
  const dir = `backups/${id}`;
  const main = new pg.Client({ connectionString: opts.url, application_name: 'nextmavens backup' });
  const snap = new pg.Client({ connectionString: opts.url, application_name: 'nextmavens backup (snapshot)' });
  await main.connect();
  await snap.connect();
  main.on('error', () => undefined);
  snap.on('error', () => undefined);
  try {
    const guard = await holdBlobDeletions(main);
    const { rows: info } = await main.query<{ version: string; db: string; sysid: string }>(
      `select current_setting('server_version') as version, current_database() as db, (select system_identifier::text from pg_control_system()) as sysid`,
    );
    // A temporary slot keeps the backup's WAL from being recycled until this session ends.
    await main.query(`select pg_create_physical_replication_slot($1, true, true)`, [`nm_backup_${randomUUID().replace(/-/g, '').slice(0, 16)}`]);
    const { rows: start } = await main.query<{ lsn: string; wal: string }>(`select lsn::text, pg_walfile_name(lsn) as wal from pg_backup_start($1, true) as lsn`, [`nextmavens ${id}`]);
    progress?.(`database: base backup from ${opts.pgDataDir}`);
    const tarred = tarDataDir(opts.pgDataDir);
    const base = await storeCompressed(store, `${dir}/base.tar.zst`, tarred.stream, throttle((n) => progress?.(`database: ${mb(n)}`)));
    await tarred.done;
    const { rows: stop } = await main.query<{ labelfile: string; spcmapfile: string }>(`select labelfile, spcmapfile from pg_backup_stop(false)`);

    const restorePoint = await freezePoint(main, snap, `nextmavens-${id}`);
    const { rows: end } = await main.query<{ wal: string }>(`select pg_walfile_name($1::pg_lsn) as wal from pg_switch_wal()`, [restorePoint.lsn]);
    const walTar = await tarWal(opts.pgDataDir, start[0].wal, end[0].wal);
    const wal = await storeCompressed(store, `${dir}/wal.tar.zst`, walTar.stream);
    await walTar.done;
    progress?.(`database: ${mb(base.size + wal.size)} stored (WAL ${start[0].wal} … ${end[0].wal})`);

    // The snapshot: row counts and the objects' blobs, exactly as the restore point has them.
    const { rows, objectRows } = await readSnapshot(snap);
    await snap.query('commit');
    const { objects, objectBytes, stored } = await archiveObjects(store, opts.backend, objectRows, progress);
    await guard.release();
    if (opts.secretsFile && existsSync(opts.secretsFile)) await store.write(`${dir}/secrets.json`, createReadStream(opts.secretsFile));

    const manifest: BaseManifest = {
      kind: 'base',
      format: 1,
      id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      postgres: { version: info[0].version, database: info[0].db, systemIdentifier: info[0].sysid },
      base,
      wal: { ...wal, first: start[0].wal, last: end[0].wal },
      backupLabel: stop[0].labelfile,
      tablespaceMap: stop[0].spcmapfile ?? '',
      restorePoint: { name: `nextmavens-${id}`, ...restorePoint },
      rows,
      objects,
      storageBackend: opts.backend.kind,
      bytes: { database: base.size + wal.size, objects: objectBytes, objectsStored: stored },
    };
    return await finishBackup(store, manifest, opts.keep, progress);
  } finally {
    await snap.end().catch(() => undefined);
    await main.end().catch(() => undefined);
  }
}
