/**
 * `nextmavens restore <backup> [--force] [--to TIMESTAMP]`: the embedded cluster of DATA_DIR
 * rebuilt from a backup, then every object its storage.objects rows reference put back into the
 * configured blob backend, so the stack starts on the same rows and bytes.
 *
 * - Into a DATA_DIR without a cluster; one that holds a cluster is refused unless `--force`, which
 *   moves it (and the fs storage) aside to `*.replaced-<time>` rather than deleting anything.
 * - Without `--to`: recovery stops at the backup's restore point (backup/create.ts).
 *   With `--to`: the newest backup whose restore point is not later than that time, then the
 *   archived WAL (BACKUP_PITR) and the replaced cluster's pg_wal up to the time; the objects come
 *   from the backups' copies, the archive of deleted blobs, or the replaced fs storage.
 * - The generated secrets (DATA_DIR/secrets.json) come back with the cluster: its passwords and
 *   JWT secret are the backup's.
 */
import { existsSync } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { chownTree } from './recovery.ts';
import { freePort } from '../core/free-port.ts';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { loadConfig, type Config } from '../config/load.ts';
import { findRunningPostgres } from '../db/embedded.ts';
import { readArchivedBlob, readJson, sha256Meter } from '../storage/backend/archive.ts';
import { BlobNotFound, blobKey, createBackend, type StorageBackend } from '../storage/backend/index.ts';
import { FsBackend } from '../storage/backend/fs.ts';
import { inParallel, OBJECTS_IN_FLIGHT } from './create.ts';
import { isDump, listBackups, readManifest, RestoreRefused, type BackupManifest } from './manifest.ts';
import { restoreDumpInto } from './dump.ts';
import { startRecovered, unpackBackup } from './recovery.ts';
import type { BackupStore } from './store.ts';

export interface RestoreOptions {
  config: Config;
  store: BackupStore;
  /** A backup id of the store; default the latest (with `to`: the latest before it). */
  id?: string;
  /** Point in time to restore to. */
  to?: Date;
  force?: boolean;
  env?: Record<string, string | undefined>;
  progress?: (line: string) => void;
}

export interface RestoreResult {
  id: string;
  /** What was restored: the embedded cluster's directory, or the external database (no password). */
  into: string;
  objects: number;
  /** Objects put back into the backend (the rest were there). */
  copied: number;
  /** Where the replaced cluster went (`--force`). */
  replaced?: string;
}

export { RestoreRefused };

/** The backup a restore starts from. */
export async function chooseBackup(store: BackupStore, id?: string, to?: Date, kind?: 'base' | 'dump'): Promise<BackupManifest> {
  const ids = await listBackups(store);
  if (id) {
    if (!ids.includes(id)) throw new RestoreRefused(`no complete backup ${id} in ${store.location}`);
    return readManifest(store, id);
  }
  for (const candidate of ids.reverse()) {
    const m = await readManifest(store, candidate);
    if (kind && (isDump(m) ? 'dump' : 'base') !== kind) continue;
    if (!to || new Date(m.restorePoint.time) <= to) return m;
  }
  const what = kind === 'dump' ? 'dump' : kind === 'base' ? 'base backup' : 'backup';
  throw new RestoreRefused(to ? `no ${what} in ${store.location} is older than ${to.toISOString()}` : `no ${what} in ${store.location}`);
}

/** Puts `body` at `key`, checking it is the bytes the archive recorded. */
async function putChecked(backend: StorageBackend, key: string, body: Readable, sha256?: string): Promise<void> {
  const meter = sha256Meter();
  const out = new PassThrough();
  await Promise.all([pipeline(body, meter, out), backend.put(key, out, { maxBytes: Infinity })]);
  if (sha256 && meter.digest() !== sha256) {
    await backend.delete([key]);
    throw new Error(`object ${key}: checksum mismatch`);
  }
}

export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  let { config } = opts;
  const { store, progress } = opts;
  const external = !config.postgres.embedded;
  if (external && !config.backup.pgData) return restoreExternal(opts);
  // The embedded cluster, or an external one's data directory mounted here (BACKUP_PGDATA, compose).
  const pgDir = config.backup.pgData ?? path.join(config.dataDir, 'postgres');
  const ownerFile = external ? undefined : path.join(config.dataDir, 'postgres.owner');
  if (external) {
    if (existsSync(path.join(pgDir, 'postmaster.pid'))) throw new RestoreRefused(`a Postgres holds ${pgDir} (postmaster.pid): stop the database server first (compose: docker compose stop db)`);
  } else {
    const running = await findRunningPostgres(pgDir, ownerFile);
    if (running) throw new RestoreRefused(`Postgres is running on ${pgDir} (port ${running.port}${running.owner ? `, \`${running.owner.command}\`` : ''}): stop the stack first`);
  }
  const m = await chooseBackup(store, opts.id, opts.to, opts.id ? undefined : 'base');
  if (isDump(m)) throw new RestoreRefused(`backup ${m.id} is a dump of an external Postgres: restore it with DATABASE_URL (or POSTGRESQL_HOST) naming an empty database${external ? ', without BACKUP_PGDATA' : ''}`);
  progress?.(`restoring backup ${m.id} (restore point ${m.restorePoint.time})${opts.to ? ` and WAL up to ${opts.to.toISOString()}` : ''}`);
  // Who owns the cluster's files: a mounted server's uid (compose's postgres image) may not be this machine's postgres user.
  const owner = external ? await stat(existsSync(pgDir) ? pgDir : path.dirname(pgDir)) : undefined;

  let replaced: string | undefined;
  let replacedStorage: string | undefined;
  if (existsSync(path.join(pgDir, 'PG_VERSION'))) {
    if (!opts.force) throw new RestoreRefused(`${pgDir} holds a database cluster: restore --force moves it aside first`);
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    replaced = `${pgDir}.replaced-${stamp}`;
    await rename(pgDir, replaced);
    const storageDir = path.join(config.dataDir, 'storage');
    if (config.storage.backend === 'fs' && existsSync(storageDir)) {
      replacedStorage = `${storageDir}.replaced-${stamp}`;
      await rename(storageDir, replacedStorage);
    }
    progress?.(`moved the existing cluster to ${replaced}`);
  }

  // The secrets the cluster's passwords (and the API keys) were made with.
  const secrets = `backups/${m.id}/secrets.json`;
  if (await store.exists(secrets)) {
    await writeFile(path.join(config.dataDir, 'secrets.json'), JSON.stringify(await readJson(store, secrets), null, 2) + '\n', { mode: 0o600 });
    config = await loadConfig(opts.env ?? process.env);
  }

  const walSources = opts.to ? [...(store.dir ? [path.join(store.dir, 'wal')] : []), ...(replaced ? [path.join(replaced, 'pg_wal')] : [])] : [];
  const pgc = config.postgres;
  let recovered;
  try {
    await unpackBackup(store, m, pgDir, opts.to ? { time: opts.to } : { name: m.restorePoint.name }, walSources);
    progress?.('database: unpacked, recovering');
    // A mounted server's cluster recovers under a Postgres of its version (BACKUP_PG_BIN_DIR) on a port of its own.
    const port = external ? await freePort() : pgc.port;
    recovered = await startRecovered({ pgDir, port, user: pgc.user, password: pgc.password, ownerFile, command: 'nextmavens restore', binDir: external ? config.backup.pgBinDir : undefined });
  } catch (err) {
    // Nothing half-done stays: the unpacked cluster goes, the replaced one comes back.
    await rm(pgDir, { recursive: true, force: true });
    if (replaced) await rename(replaced, pgDir);
    if (replacedStorage) await rename(replacedStorage, path.join(config.dataDir, 'storage'));
    throw err;
  }
  try {
    progress?.('database: recovered');
    const { objects, copied } = await restoreObjects(config, store, m, recovered.url(pgc.database), replacedStorage);
    progress?.(`objects: ${objects} (${copied} put back)`);
    return { id: m.id, into: pgDir, objects, copied, replaced };
  } finally {
    await recovered.server.stop();
    if (owner && process.getuid?.() === 0) await chownTree(pgDir, owner.uid, owner.gid);
  }
}

/**
 * An external Postgres (DATABASE_URL / POSTGRESQL_HOST): a dump (backup/dump.ts) into the
 * configured database, then the objects. Point in time is the server's own (its WAL archive).
 */
async function restoreExternal(opts: RestoreOptions): Promise<RestoreResult> {
  const { config, store, progress } = opts;
  if (opts.to) throw new RestoreRefused('restore --to (a point in time) replays archived WAL into a data directory: the embedded Postgres (BACKUP_PITR), or an external server\'s mounted with BACKUP_PGDATA');
  const m = await chooseBackup(store, opts.id, undefined, opts.id ? undefined : 'dump');
  if (!isDump(m)) throw new RestoreRefused(`backup ${m.id} is a base backup of a cluster: restore it into DATA_DIR without DATABASE_URL / POSTGRESQL_HOST, or into a mounted server's data directory with BACKUP_PGDATA`);
  const target = new URL(config.postgres.url);
  target.password = '';
  progress?.(`restoring backup ${m.id} (snapshot of ${m.restorePoint.time}) into ${target}`);
  await restoreDumpInto(config.postgres.url, store, m, { force: opts.force, binDir: config.backup.pgBinDir, progress });
  progress?.('database: restored');
  const { objects, copied } = await restoreObjects(config, store, m, config.postgres.url);
  progress?.(`objects: ${objects} (${copied} put back)`);
  return { id: m.id, into: target.toString(), objects, copied };
}

/** Every blob the restored rows reference, into the backend: from the backups' copies, else the replaced fs storage. */
async function restoreObjects(config: Config, store: BackupStore, m: BackupManifest, url: string, replacedStorage?: string): Promise<{ objects: number; copied: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const backend = await createBackend({ ...config, postgres: { ...config.postgres, url } });
  const old = replacedStorage ? new FsBackend(replacedStorage) : undefined;
  const sha = new Map(m.objects.map((o) => [o.key, o.sha256]));
  try {
    // The telegram manifest names messages the backup may have outlived: objects are sent anew.
    if (backend.kind === 'telegram') await client.query('truncate storage.telegram_chunks, storage.telegram_blobs');
    const { rows } = await client.query<{ bucket_id: string; name: string; version: string }>('select bucket_id, name, version from storage.objects');
    let copied = 0;
    const missing: string[] = [];
    await inParallel(rows, OBJECTS_IN_FLIGHT, async (row) => {
      const key = blobKey(row);
      if (await backend.head(key)) return;
      const archived = await readArchivedBlob(store, key);
      if (archived) await putChecked(backend, key, archived.body, archived.info.sha256);
      else {
        const body = await old?.get(key).catch((err) => (err instanceof BlobNotFound ? undefined : Promise.reject(err)));
        if (!body) return void missing.push(key);
        await putChecked(backend, key, body, sha.get(key));
      }
      copied++;
    });
    if (missing.length) throw new Error(`${missing.length} object(s) of the restored rows are in no backup: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
    return { objects: rows.length, copied };
  } finally {
    backend.close?.();
    await client.end();
  }
}
