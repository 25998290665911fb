/**
 * Your own schema, as the Supabase CLI keeps it: SQL files `<version>_<name>.sql` in the
 * project's migrations folder (`MIGRATIONS_DIR`, default `supabase/migrations`, so an existing
 * Supabase project drops in), applied in version order after the stack's own migrations (sql/),
 * each in its own transaction, and recorded where the Supabase CLI records them:
 * `supabase_migrations.schema_migrations (version, name, statements)`. A seed file
 * (`SEED_FILE`, default `supabase/seed.sql`) is run by `db reset`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { withClient } from './client.ts';
import { quoteIdent } from './identifiers.ts';
import { migrate, readMigrations, setRolePasswords, withoutEventTriggers, type MigrateOptions, type MigrateResult, type Migration } from './migrate.ts';

/** `20261202103000_add_todos.sql`: a version of digits, then the name. */
const FILE_PATTERN = /^(\d+)_(.+)\.sql$/;
/** Advisory lock held while applying (a constant of this module; the stack's runner has its own). */
const LOCK_KEY = 7_270_614_023;

export interface ProjectMigration {
  version: string;
  name: string;
  file: string;
  sql: string;
}

/** The migrations of `dir`, in version order (an absent folder has none). */
export async function readProjectMigrations(dir: string): Promise<ProjectMigration[]> {
  if (!existsSync(dir)) return [];
  const out: ProjectMigration[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort()) {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new Error(`${path.join(dir, file)}: migration files are named <version>_<name>.sql (e.g. 20261202103000_add_todos.sql)`);
    if (out.some((m) => m.version === match[1])) throw new Error(`${dir}: two migrations have version ${match[1]}`);
    out.push({ version: match[1], name: match[2], file: path.join(dir, file), sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return out;
}

/** The version of a migration made now: UTC `YYYYMMDDHHMMSS`, as `supabase migration new` names them. */
export function versionAt(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** Creates `<version>_<name>.sql` in `dir`; returns its path. */
export async function newProjectMigration(dir: string, name: string, now = new Date()): Promise<string> {
  const slug = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!slug) throw new Error('migration new: give the migration a name made of letters or digits');
  await mkdir(dir, { recursive: true });
  const versions = new Set((await readProjectMigrations(dir)).map((m) => m.version));
  let version = versionAt(now);
  // Two in the same second still sort in creation order.
  while (versions.has(version)) version = String(BigInt(version) + 1n);
  const file = path.join(dir, `${version}_${slug}.sql`);
  await writeFile(file, `-- ${name.trim()}\n`, { flag: 'wx' });
  return file;
}

const HISTORY = `
  create schema if not exists supabase_migrations;
  create table if not exists supabase_migrations.schema_migrations (version text primary key, statements text[], name text)`;

export interface ApplyResult {
  applied: ProjectMigration[];
  skipped: number;
}

/** Applies the pending migrations of `dir` to the database at `url`. */
export async function applyProjectMigrations(url: string, dir: string, log: (m: string) => void = () => undefined): Promise<ApplyResult> {
  const migrations = await readProjectMigrations(dir);
  return withClient(url, 'nextmavens migrations', async (client) => {
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      // The history table is the stack's DDL (no audit entry each start); the project's own is audited.
      await withoutEventTriggers(client);
      await client.query(HISTORY);
      await withoutEventTriggers(client, false);
      const { rows } = await client.query<{ version: string }>('select version from supabase_migrations.schema_migrations');
      const done = new Set(rows.map((r) => r.version));
      const applied: ProjectMigration[] = [];
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        try {
          await client.query('begin');
          await client.query(m.sql);
          await client.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, $3)', [m.version, m.name, [m.sql]]);
          await client.query('commit');
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          throw new Error(`${path.basename(m.file)} failed: ${(err as Error).message}`, { cause: err });
        }
        log(`applied ${path.basename(m.file)}`);
        applied.push(m);
      }
      return { applied, skipped: migrations.length - applied.length };
    } finally {
      await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  });
}

/** Runs the seed file, when there is one, in one transaction. Returns whether it ran. */
export async function runSeed(url: string, file: string): Promise<boolean> {
  if (!existsSync(file)) return false;
  const sql = await readFile(file, 'utf8');
  return withClient(url, 'nextmavens seed', async (client) => {
    try {
      await client.query('begin');
      await client.query(sql);
      await client.query('commit');
      return true;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw new Error(`${path.basename(file)} failed: ${(err as Error).message}`, { cause: err });
    }
  });
}

/**
 * Drops and recreates the database of `url` (connected through its server's `postgres`
 * database): its replication slots are dropped first, and other sessions are ended.
 */
export async function recreateDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name || name === 'postgres' || name === 'template0' || name === 'template1') throw new Error(`db reset: refusing to recreate the database "${name}"`);
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  await withClient(maintenance.toString(), 'nextmavens db reset', async (client) => {
    await dropDatabase(client, name);
    await client.query(`create database ${quoteIdent(name)}`);
  });
}

/**
 * Drops the database `name` over `client` (connected to another database of its server): its
 * replication slots first — a slot's consumer is ended, the slot dropped once it is no longer
 * active — and then the database, ending its other sessions.
 */
export async function dropDatabase(client: pg.ClientBase, name: string): Promise<void> {
  await client.query('select pg_terminate_backend(active_pid) from pg_replication_slots where database = $1 and active_pid is not null', [name]);
  for (let i = 0; i < 100; i++) {
    const { rows } = await client.query<{ slot_name: string; active: boolean }>('select slot_name, active from pg_replication_slots where database = $1', [name]);
    if (!rows.length) break;
    for (const r of rows) if (!r.active) await client.query('select pg_drop_replication_slot($1)', [r.slot_name]).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await client.query(`drop database if exists ${quoteIdent(name)} with (force)`);
}

/** What migrateAll applies: the stack's migrations (sql/), graphile-worker's schema revision, the project's migrations. */
interface Shipped {
  stack: Migration[];
  /** The highest migration of the installed graphile-worker; undefined when it cannot be read (then no run is skipped). */
  worker: number | undefined;
  project: ProjectMigration[];
}

async function workerRevision(): Promise<number | undefined> {
  try {
    // The compiled migrations runMigrations applies: a module beside graphile-worker's entry
    // (dist/index.js) that its `exports` does not list, so imported by its file URL.
    const file = new URL('./generated/sql.js', import.meta.resolve('graphile-worker')).href;
    const { migrations } = (await import(file)) as { migrations: Record<string, string> };
    return Math.max(...Object.keys(migrations).map((file) => parseInt(file.slice(0, 6), 10)));
  } catch {
    return undefined;
  }
}

function fingerprintOf(shipped: Shipped): string {
  const parts = { stack: shipped.stack.map((m) => [m.version, m.checksum]), worker: shipped.worker, project: shipped.project.map((m) => m.version) };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/**
 * Whether the database already holds everything `shipped` would apply: the fingerprint the last
 * complete run recorded (sql/0045_migration_state.sql) is this one's, and the records still hold
 * every shipped migration (the stack's with the same checksum: a changed file takes the full run,
 * which reports it) and graphile-worker's revision. One query; any missing table means "no".
 */
async function isCurrent(client: pg.Client, shipped: Shipped, fingerprint: string): Promise<boolean> {
  if (shipped.worker === undefined) return false;
  try {
    const { rows } = await client.query<{ fingerprint: string | null; stack: [number, string][]; project: string[]; worker: number | null }>(`select
      (select fingerprint from nextmavens.migration_state) as fingerprint,
      (select coalesce(json_agg(json_build_array(version, checksum)), '[]') from nextmavens.schema_migrations) as stack,
      (select coalesce(json_agg(version), '[]') from supabase_migrations.schema_migrations) as project,
      (select max(id) from graphile_worker.migrations) as worker`);
    const row = rows[0];
    if (row.fingerprint !== fingerprint || row.worker !== shipped.worker) return false;
    const stack = new Map(row.stack);
    const project = new Set(row.project);
    return shipped.stack.every((m) => stack.get(m.version) === m.checksum) && shipped.project.every((m) => project.has(m.version));
  } catch {
    return false;
  }
}

/**
 * The stack's migrations and then the project's, on the database at `url`. When the database
 * already holds the shipped set (isCurrent: the usual start), only the role passwords are set,
 * over one connection; otherwise everything runs, and the new fingerprint is recorded last.
 */
export async function migrateAll(config: Config, url: string, log: (m: string) => void = () => undefined): Promise<{ stack: number; project: number; skipped: number }> {
  const { authenticatorPassword, rolePasswords } = config.postgres;
  const [stackMigrations, worker, projectMigrations] = await Promise.all([readMigrations(), workerRevision(), readProjectMigrations(config.postgres.migrationsDir)]);
  const shipped: Shipped = { stack: stackMigrations, worker, project: projectMigrations };
  const fingerprint = fingerprintOf(shipped);
  const current = await withClient(url, 'nextmavens migrate', async (client) => {
    if (!(await isCurrent(client, shipped, fingerprint))) return false;
    await setRolePasswords(client, { authenticatorPassword, rolePasswords });
    return true;
  });
  if (current) return { stack: 0, project: 0, skipped: shipped.stack.length + shipped.project.length };
  const stack = await migrateStack(url, { authenticatorPassword, rolePasswords, log });
  const project = await applyProjectMigrations(url, config.postgres.migrationsDir, log);
  if (worker !== undefined) await recordFingerprint(url, fingerprint);
  return { stack: stack.applied.length, project: project.applied.length, skipped: stack.skipped + project.skipped };
}

async function recordFingerprint(url: string, fingerprint: string): Promise<void> {
  await withClient(url, 'nextmavens migrate', (client) =>
    client.query(
      `insert into nextmavens.migration_state (fingerprint) values ($1)
       on conflict (id) do update set fingerprint = excluded.fingerprint, updated_at = now()`,
      [fingerprint],
    ),
  );
}

/** sql/0028_service_roles.sql grants the services' roles on graphile_worker's tables: from it on, the schema must be there. */
const GRANTS_ON_JOB_SCHEMA = 28;

/**
 * The stack's migrations (sql/) and graphile-worker's schema side by side, on two connections
 * (two cores for DDL that is CPU-bound, ~0.4 s saved on a new database): they touch different
 * schemas, and the first migration that needs the job schema (GRANTS_ON_JOB_SCHEMA) waits for it.
 * The job schema is installed here, by the owner, rather than by the first worker to start, so
 * that the services' roles get their grants on it (nextmavens.grant_service_roles) before any of
 * them queues a job. Both run without event triggers (withoutEventTriggers) and are settled
 * before this returns; then the grants, for what either added, and — when a stack migration was
 * applied — one schema-reload notice and one `stack.migrate` audit entry for all of their DDL.
 */
export async function migrateStack(url: string, opts: MigrateOptions): Promise<MigrateResult> {
  // graphile-worker (~0.1 s of imports) loads here rather than with this module; in a start it is
  // in the cache by now (jobs/ loads it beside initdb).
  const { Logger, runMigrations } = await import('graphile-worker');
  const workerPool = new pg.Pool({ connectionString: url, application_name: 'nextmavens migrate', max: 1 });
  workerPool.on('connect', (client) => void withoutEventTriggers(client));
  workerPool.on('error', () => undefined); // an idle client's; a failing migration rejects runMigrations
  const jobSchema = runMigrations({ pgPool: workerPool, logger: new Logger(() => () => undefined) });
  const [stack, worker] = await Promise.allSettled([
    migrate(url, { ...opts, before: (m) => (m.version >= GRANTS_ON_JOB_SCHEMA ? jobSchema : undefined) }),
    jobSchema,
  ]).finally(() => workerPool.end());
  if (stack.status === 'rejected') throw stack.reason;
  if (worker.status === 'rejected') throw worker.reason;
  await finishStackMigration(url, stack.value.applied);
  return stack.value;
}

async function finishStackMigration(url: string, applied: Migration[]): Promise<void> {
  await withClient(url, 'nextmavens migrate', async (client) => {
    await withoutEventTriggers(client);
    await client.query(`do $$ begin
      if to_regprocedure('nextmavens.grant_service_roles()') is not null then perform nextmavens.grant_service_roles(); end if;
    end $$`);
    if (!applied.length) return;
    await client.query(`select pg_notify('nextmavens_ddl', 'MIGRATE'), pg_notify('pgrst', 'reload schema')`);
    const files = applied.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}.sql`);
    await client.query('begin');
    await client.query(`select set_config('nextmavens.migrated', $1, true)`, [JSON.stringify(files)]);
    await client.query(`do $$ begin
      if to_regprocedure('audit.record(text, text, jsonb)') is not null then
        perform audit.record('stack.migrate', null, jsonb_build_object('applied', current_setting('nextmavens.migrated')::jsonb));
      end if;
    end $$`);
    await client.query('commit');
  });
}
