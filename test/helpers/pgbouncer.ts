/**
 * A real PgBouncer (the Debian package, /usr/sbin/pgbouncer) in transaction pooling mode in front of
 * the run's Postgres, and the whole embedded stack reaching Postgres through it: every request
 * pool and the owner pool on PgBouncer, only what needs a session of its own (migrations, LISTEN,
 * the replication slot, the leader lock: DATABASE_DIRECT_URL) past it, and no named prepared
 * statements (DB_PREPARED_STATEMENTS=false: PgBouncer before 1.21 cannot keep them).
 *
 * PgBouncer refuses to run as root; as root the helper runs it as the `postgres` user.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { PostgresConfig } from '../../config/load.ts';
import { freePort } from './net.ts';
import { startTestStack, type TestStack, type TestStackOptions } from './stack.ts';
import { until } from './wait.ts';

export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';
export const hasPgBouncer = existsSync(PGBOUNCER_BIN);

export interface PgBouncer {
  port: number;
  /** `url` (a URL of the run's Postgres) with PgBouncer's address instead. */
  through(url: string): string;
  /** A row of PgBouncer's SHOW STATS for `database` (its admin console). */
  stats(database: string): Promise<{ total_xact_count: number; total_query_count: number } | undefined>;
  /** Backend pids of PgBouncer's server connections to `database` (SHOW SERVERS). */
  serverPids(database: string): Promise<number[]>;
  close(): Promise<void>;
}

export interface PgBouncerOptions {
  /** Server connections per database and user pair (default_pool_size). */
  poolSize?: number;
  /** The Postgres in front of which (and its owner, whose password `authenticator` shares); default: the test run's. */
  server?: { host: string; port: number; user: string; password: string };
}

function userIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

/** Starts PgBouncer (pool_mode = transaction) for every database of the run's Postgres. */
export async function startPgBouncer(opts: PgBouncerOptions = {}): Promise<PgBouncer> {
  // Outside vitest (bench/scale.ts) the server is given: vitest is imported only for the test run's.
  const server = opts.server ?? (await import('vitest')).inject('postgres');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-pgbouncer-'));
  const port = await freePort();
  // The users PgBouncer logs in as (the owner and `authenticator`: test/global-setup.ts gives both the owner's password).
  const users = { [server.user]: server.password, authenticator: server.password };
  await writeFile(path.join(dir, 'userlist.txt'), Object.entries(users).map(([u, p]) => `"${u}" "${p}"\n`).join(''));
  await writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.host} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'pool_mode = transaction',
      'auth_type = scram-sha-256',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      `admin_users = ${server.user}`,
      'max_client_conn = 1000',
      `default_pool_size = ${opts.poolSize ?? 8}`,
      // node-postgres sends no other startup parameters than these.
      'ignore_startup_parameters = extra_float_digits, options',
      'server_reset_query =',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  const ids = userIds();
  if (ids) {
    await chmod(dir, 0o755);
    for (const f of ['', 'userlist.txt', 'pgbouncer.ini']) await chown(path.join(dir, f), ids.uid, ids.gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER_BIN, [path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'], ...(ids ?? {}) });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => void (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const admin = () => new pg.Client({ host: '127.0.0.1', port, user: server.user, password: server.password, database: 'pgbouncer' });
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${stderr}`);
      const c = admin();
      c.on('error', () => undefined);
      return c.connect().then(() => c.end().then(() => true), () => false);
    }, 10_000, 'pgbouncer to accept connections');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  /** The admin console (simple protocol only). */
  const show = async <R extends pg.QueryResultRow>(what: string): Promise<R[]> => {
    const c = admin();
    await c.connect();
    try {
      return (await c.query<R>(`SHOW ${what}`)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    port,
    through(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async stats(database) {
      const rows = await show<{ database: string; total_xact_count: string; total_query_count: string }>('STATS');
      const row = rows.find((r) => r.database === database);
      return row && { total_xact_count: Number(row.total_xact_count), total_query_count: Number(row.total_query_count) };
    },
    async serverPids(database) {
      const rows = await show<{ database: string; remote_pid: string }>('SERVERS');
      return rows.filter((r) => r.database === database).map((r) => Number(r.remote_pid));
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A stack's Postgres settings with its pools on `bouncer` and its session work past it. */
export function throughPgBouncer(postgres: PostgresConfig, bouncer: PgBouncer): PostgresConfig {
  return { ...postgres, host: '127.0.0.1', port: bouncer.port, url: bouncer.through(postgres.url), directUrl: postgres.url, preparedStatements: false };
}

export interface StackBehindPgBouncer extends TestStack {
  bouncer: PgBouncer;
}

/** The embedded stack over a fresh test database, its pools through a new PgBouncer. */
export async function startStackBehindPgBouncer(opts: Omit<TestStackOptions, 'configure'> & PgBouncerOptions = {}): Promise<StackBehindPgBouncer> {
  const bouncer = await startPgBouncer(opts);
  try {
    const t = await startTestStack({ ...opts, env: { DB_PREPARED_STATEMENTS: 'false', ...opts.env }, configure: (db) => void (db.config.postgres = throughPgBouncer(db.config.postgres, bouncer)) });
    return {
      ...t,
      bouncer,
      async close() {
        await t.close();
        await bouncer.close();
      },
    };
  } catch (err) {
    await bouncer.close();
    throw err;
  }
}
