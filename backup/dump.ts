/**
 * Backups of an external Postgres (DATABASE_URL / POSTGRESQL_HOST, e.g. compose's `db`): its data
 * directory is not on this machine, so the database part is a logical dump — `pg_dump` of the
 * server's major version (backup/pg-tools.ts) in custom format, zstd-compressed by us — beside the
 * same objects as a base backup (backup/create.ts).
 *
 * Consistent like a base backup: blob deletions are held off (db/blob-guard.ts) from before the
 * snapshot to the last blob; one REPEATABLE READ transaction exports its snapshot
 * (`pg_export_snapshot()`), pg_dump dumps exactly that snapshot (`--snapshot`), and the row counts
 * and the storage.objects rows whose blobs are copied are read in the same transaction. So the
 * restored rows reference exactly the copied blobs, whatever uploads ran meanwhile.
 *
 * Restore (`nextmavens restore` with an external database configured): into an empty database
 * (objects of extensions aside); a non-empty one only with `--force`, which drops its schemas,
 * event triggers and publications first. Roles are cluster-wide and not in a dump: the manifest
 * lists the roles the database used, and those missing are created (without passwords: `migrate`
 * sets the authenticator's; see README "Backups and restore").
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { holdBlobDeletions } from '../db/blob-guard.ts';
import { decompress, sha256Meter } from '../storage/backend/archive.ts';
import type { StorageBackend } from '../storage/backend/index.ts';
import { archiveObjects, finishBackup, readSnapshot, storeCompressed, throttle, type BackupResult } from './create.ts';
import { newBackupId, RestoreRefused, type DumpedRole, type DumpManifest } from './manifest.ts';
import { findPgTool, runPgTool } from './pg-tools.ts';
import type { BackupStore } from './store.ts';

export interface DumpBackupOptions {
  /** Superuser (or owner) URL of the database. */
  url: string;
  store: BackupStore;
  backend: StorageBackend;
  keep?: number;
  /** BACKUP_PG_BIN_DIR. */
  binDir?: string;
  progress?: (line: string) => void;
}

const MB = 1024 * 1024;
const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

/** CREATE ROLE options read from pg_roles; nothing else from a manifest reaches SQL. */
const ROLE_OPTIONS = ['SUPERUSER', 'NOINHERIT', 'CREATEROLE', 'CREATEDB', 'LOGIN', 'REPLICATION', 'BYPASSRLS'] as const;

async function connect(url: string, name: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: name });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function serverInfo(c: pg.ClientBase): Promise<{ version: string; major: number; database: string; systemIdentifier: string }> {
  const { rows } = await c.query<{ version: string; num: string; db: string }>(
    `select current_setting('server_version') as version, current_setting('server_version_num') as num, current_database() as db`,
  );
  // pg_control_system() is for superusers and pg_monitor only.
  const sysid = await c.query<{ id: string }>('select system_identifier::text as id from pg_control_system()').then((r) => r.rows[0].id, () => '');
  return { version: rows[0].version, major: Math.floor(Number(rows[0].num) / 10000), database: rows[0].db, systemIdentifier: sysid };
}

/** The roles of the cluster other than PostgreSQL's own, with their options and memberships. */
async function clusterRoles(c: pg.ClientBase): Promise<DumpedRole[]> {
  const { rows } = await c.query<{ name: string; options: string[]; member_of: string[] }>(
    `select r.rolname as name,
            array_remove(array[case when r.rolsuper then 'SUPERUSER' end, case when not r.rolinherit then 'NOINHERIT' end,
              case when r.rolcreaterole then 'CREATEROLE' end, case when r.rolcreatedb then 'CREATEDB' end,
              case when r.rolcanlogin then 'LOGIN' end, case when r.rolreplication then 'REPLICATION' end,
              case when r.rolbypassrls then 'BYPASSRLS' end], null) as options,
            array(select g.rolname from pg_auth_members m join pg_roles g on g.oid = m.roleid
                   where m.member = r.oid and g.rolname !~ '^pg_' order by 1) as member_of
       from pg_roles r where r.rolname !~ '^pg_' order by r.rolname`,
  );
  return rows.map((r) => ({ name: r.name, options: r.options, memberOf: r.member_of }));
}

export async function createDumpBackup(opts: DumpBackupOptions): Promise<BackupResult> {
  const { store, progress } = opts;
  const startedAt = new Date();
  const id = newBackupId(startedAt);
  const main = await connect(opts.url, 'nextmavens backup');
  const snap = await connect(opts.url, 'nextmavens backup (snapshot)').catch(async (err) => {
    await main.end();
    throw err;
  });
  let dumpChild: ReturnType<typeof runPgTool> | undefined;
  try {
    const info = await serverInfo(main);
    const tool = await findPgTool('pg_dump', info.major, opts.binDir);
    const guard = await holdBlobDeletions(main);
    await snap.query('begin isolation level repeatable read read only');
    const { rows: point } = await snap.query<{ snapshot: string; lsn: string; time: Date }>(
      'select pg_export_snapshot() as snapshot, pg_current_wal_lsn()::text as lsn, clock_timestamp() as time',
    );
    progress?.(`database: pg_dump of ${info.database} (Postgres ${info.version}) with ${tool.bin}`);
    dumpChild = runPgTool(tool.bin, ['--format=custom', '--compress=0', '--no-password', `--snapshot=${point[0].snapshot}`], opts.url);
    const [dump] = await Promise.all([
      storeCompressed(store, `backups/${id}/database.dump.zst`, dumpChild.child.stdout!, throttle((n) => progress?.(`database: ${mb(n)}`))),
      dumpChild.done,
    ]);
    progress?.(`database: ${mb(dump.size)} stored`);
    const { rows, objectRows } = await readSnapshot(snap);
    await snap.query('commit');
    const { objects, objectBytes, stored } = await archiveObjects(store, opts.backend, objectRows, progress);
    await guard.release();
    const manifest: DumpManifest = {
      kind: 'dump',
      format: 1,
      id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      postgres: { version: info.version, database: info.database, systemIdentifier: info.systemIdentifier },
      dump,
      pgDump: tool.version,
      roles: await clusterRoles(main),
      restorePoint: { name: point[0].snapshot, lsn: point[0].lsn, time: point[0].time.toISOString() },
      rows,
      objects,
      storageBackend: opts.backend.kind,
      bytes: { database: dump.size, objects: objectBytes, objectsStored: stored },
    };
    return await finishBackup(store, manifest, opts.keep, progress);
  } catch (err) {
    dumpChild?.child.kill('SIGTERM');
    throw err;
  } finally {
    await snap.end().catch(() => undefined);
    await main.end().catch(() => undefined);
  }
}

/** Up to five objects of the database that are not PostgreSQL's or an extension's. */
async function userObjects(c: pg.ClientBase): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'
        and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
     union all
     select format('schema %I', n.nspname) from pg_namespace n
      where n.nspname not in ('pg_catalog', 'information_schema', 'public') and n.nspname !~ '^pg_'
        and not exists (select from pg_depend d where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e')
     limit 5`,
  );
  return rows.map((r) => r.name);
}

/** `--force`: everything a restore would collide with — schemas (and so their extensions), event triggers, publications, idle slots. */
async function clearDatabase(c: pg.ClientBase): Promise<void> {
  await c.query(`do $$
    declare r record;
    begin
      for r in select e.evtname from pg_event_trigger e
                where not exists (select from pg_depend d where d.classid = 'pg_event_trigger'::regclass and d.objid = e.oid and d.deptype = 'e') loop
        execute format('drop event trigger %I', r.evtname);
      end loop;
      for r in select pubname from pg_publication loop
        execute format('drop publication %I', r.pubname);
      end loop;
      for r in select nspname from pg_namespace where nspname not in ('pg_catalog', 'information_schema', 'public') and nspname !~ '^pg_' loop
        execute format('drop schema %I cascade', r.nspname);
      end loop;
      drop schema if exists public cascade;
      create schema public;
    end $$`);
  // Logical slots of the old database would replay the restore as changes.
  await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database() and not active`);
}

/** The manifest's roles that the server lacks, with their options and memberships. */
async function ensureRoles(c: pg.ClientBase, roles: DumpedRole[], progress?: (line: string) => void): Promise<void> {
  const { rows } = await c.query<{ rolname: string }>('select rolname from pg_roles');
  const existing = new Set(rows.map((r) => r.rolname));
  for (const role of roles) {
    if (existing.has(role.name)) continue;
    const options = role.options.filter((o): o is (typeof ROLE_OPTIONS)[number] => (ROLE_OPTIONS as readonly string[]).includes(o));
    await c.query(`create role ${c.escapeIdentifier(role.name)} ${options.join(' ') || 'NOLOGIN'}`);
    existing.add(role.name);
    progress?.(`role ${role.name} created (${options.join(', ') || 'NOLOGIN'}; no password)`);
  }
  for (const role of roles) {
    for (const group of role.memberOf) {
      if (!existing.has(group)) continue;
      const { rowCount } = await c.query('select from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member where g.rolname = $1 and r.rolname = $2', [group, role.name]);
      if (!rowCount) await c.query(`grant ${c.escapeIdentifier(group)} to ${c.escapeIdentifier(role.name)}`);
    }
  }
}

/** Sessions of a running stack on the database (their pools name themselves `nextmavens…`). */
async function stackSessions(c: pg.ClientBase): Promise<number> {
  const { rows } = await c.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
        and application_name like 'nextmavens%' and application_name not like 'nextmavens backup%' and application_name <> 'nextmavens restore'`,
  );
  return rows[0].n;
}

/**
 * The dump of `m` into the database of `url`: refused while a stack is connected, or when the
 * database holds objects (unless `force`); the stored dump is checked against its SHA-256 before
 * pg_restore runs it in one transaction (a failure leaves the database as it was).
 */
export async function restoreDumpInto(
  url: string,
  store: BackupStore,
  m: DumpManifest,
  opts: { force?: boolean; binDir?: string; progress?: (line: string) => void } = {},
): Promise<void> {
  const { progress } = opts;
  const c = await connect(url, 'nextmavens restore');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-restore-'));
  try {
    const info = await serverInfo(c);
    const dumpMajor = Number(/\(PostgreSQL\)\s+(\d+)/.exec(m.pgDump)?.[1] ?? 0);
    const tool = await findPgTool('pg_restore', Math.max(info.major, dumpMajor), opts.binDir);
    const sessions = await stackSessions(c);
    if (sessions) throw new RestoreRefused(`the stack is connected to ${info.database} (${sessions} session(s)): stop it first`);
    const present = await userObjects(c);
    if (present.length) {
      if (!opts.force) throw new RestoreRefused(`database ${info.database} is not empty (${present.join(', ')}${present.length === 5 ? ', …' : ''}): restore --force replaces its schemas`);
      progress?.(`database ${info.database}: dropping its schemas (--force)`);
      await clearDatabase(c);
    }
    await ensureRoles(c, m.roles, progress);

    const file = path.join(tmp, 'database.dump');
    const meter = sha256Meter();
    await pipeline(await store.read(m.dump.file), meter, decompress(), createWriteStream(file)).catch((err: Error) => {
      throw new RestoreRefused(`${m.dump.file}: the backup is damaged (${err.message})`);
    });
    if (meter.digest() !== m.dump.sha256 || meter.size !== m.dump.size) throw new RestoreRefused(`${m.dump.file}: the backup is damaged (checksum mismatch)`);
    progress?.(`database: pg_restore into ${info.database} with ${tool.bin}`);
    const restore = runPgTool(tool.bin, ['--exit-on-error', '--single-transaction', '--no-password', `--dbname=${info.database}`, file], url, ['ignore', 'ignore', 'pipe']);
    await restore.done;
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await c.end().catch(() => undefined);
  }
}

/** A database of its own on the server of `url` for `backup verify`, dropped by `drop()`. */
export async function scratchDatabase(url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `nextmavens_verify_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const c = await connect(url, 'nextmavens backup verify');
  try {
    await c.query(`create database ${c.escapeIdentifier(name)} template template0`);
  } finally {
    await c.end();
  }
  const scratch = new URL(url);
  scratch.pathname = `/${name}`;
  return {
    url: scratch.toString(),
    drop: async () => {
      const d = await connect(url, 'nextmavens backup verify');
      try {
        await d.query(`drop database if exists ${d.escapeIdentifier(name)} with (force)`);
      } finally {
        await d.end();
      }
    },
  };
}

