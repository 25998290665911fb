/**
 * Migration runner: applies the numbered plain SQL files in `sql/` in order, each in its own
 * transaction, recording them in `nextmavens.schema_migrations`. A session advisory lock makes
 * concurrent runners (several services starting at once) wait for each other, so re-running
 * is a no-op. A file changed after it was applied is an error, not a silent divergence.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const SQL_DIR = fileURLToPath(new URL('../sql/', import.meta.url));
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Advisory lock key held while migrating (an arbitrary constant owned by this runner). */
const LOCK_KEY = 7_270_614_022;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: Migration[];
  skipped: number;
}

export async function readMigrations(dir = SQL_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) throw new Error(`sql/${file}: migration files must be named NNNN_lower_snake.sql`);
    const sql = await readFile(path.join(dir, file), 'utf8');
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`sql/: two migrations numbered ${match[1]}`);
    migrations.push({ version, name: match[2], sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

export interface MigrateOptions {
  /** Password given to the `authenticator` login role after migrating (when the runner may set it). */
  authenticatorPassword?: string;
  /** Passwords given to other login roles after migrating (the services' roles, sql/0028); unset ones are left alone. */
  rolePasswords?: Record<string, string | undefined>;
  dir?: string;
  log?: (message: string) => void;
  /** Awaited before a pending migration is applied (migrateStack: sql/0028 waits for graphile-worker's schema). */
  before?: (m: Migration) => Promise<unknown> | undefined;
}

/** Applies pending migrations over the connection `url` (superuser or database owner). */
export async function migrate(url: string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(opts.dir);
  const client = new pg.Client({ connectionString: url, application_name: 'nextmavens migrate' });
  await client.connect();
  try {
    await withoutEventTriggers(client);
    await client.query('select pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`
      create schema if not exists nextmavens;
      create table if not exists nextmavens.schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'select version, checksum from nextmavens.schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    const applied: Migration[] = [];
    for (const m of migrations) {
      const checksum = done.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) {
          throw new Error(`migration ${m.version}_${m.name}.sql was changed after it was applied; add a new migration instead`);
        }
        continue;
      }
      await opts.before?.(m);
      try {
        await client.query('begin');
        await client.query(m.sql);
        await client.query('insert into nextmavens.schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.version}_${m.name}.sql failed: ${(err as Error).message}`, { cause: err });
      }
      opts.log?.(`applied sql/${String(m.version).padStart(4, '0')}_${m.name}.sql`);
      applied.push(m);
    }
    await setRolePasswords(client, opts);
    return { applied, skipped: migrations.length - applied.length };
  } finally {
    await client.query('select pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

/**
 * The stack's own DDL runs without event triggers (PostgreSQL 17's `event_triggers` setting, for a
 * superuser): sql/0006's schema-reload NOTIFY and sql/0027's `ddl.*` audit entry would otherwise
 * fire for each of the ~200 commands a new database gets (~0.2 s of a cold start). migrateStack
 * sends one reload notice and writes one `stack.migrate` entry instead. On an older server or as
 * a non-superuser the setting is refused and the triggers stay on. `off = false` turns them back on.
 */
export async function withoutEventTriggers(client: pg.ClientBase, off = true): Promise<void> {
  await client.query(`select set_config('event_triggers', $1, false)`, [off ? 'off' : 'on']).catch(() => undefined);
}

/** Gives the login roles their configured passwords (MigrateOptions: authenticatorPassword, rolePasswords). */
export async function setRolePasswords(client: pg.Client, opts: Pick<MigrateOptions, 'authenticatorPassword' | 'rolePasswords'>): Promise<void> {
  const passwords = { authenticator: opts.authenticatorPassword, ...opts.rolePasswords };
  for (const [role, password] of Object.entries(passwords)) if (password) await setRolePassword(client, role, password);
}

/**
 * The password is a bind parameter; format(%I, %L) quotes the role and the password inside the
 * DDL on the server side. Only roles that exist: a missing one is left to its migration.
 */
async function setRolePassword(client: pg.Client, role: string, password: string): Promise<void> {
  const { rows } = await client.query<{ can: boolean }>(
    `select rolsuper or rolcreaterole as can from pg_roles where rolname = current_user`,
  );
  if (!rows[0]?.can) return;
  await client.query(`select set_config('nextmavens.role_name', $1, false), set_config('nextmavens.role_password', $2, false)`, [role, password]);
  // Roles are cluster-wide but the migration lock is per database: two databases of one cluster
  // migrating at once (parallel test files) can race on this row ("tuple concurrently updated").
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(`do $$ begin
        if exists (select from pg_roles where rolname = current_setting('nextmavens.role_name')) then
          execute format('alter role %I with login password %L', current_setting('nextmavens.role_name'), current_setting('nextmavens.role_password'));
        end if;
      end $$`);
      break;
    } catch (err) {
      if (attempt >= 5 || (err as Error).message !== 'tuple concurrently updated') throw err;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
  await client.query(`select set_config('nextmavens.role_name', '', false), set_config('nextmavens.role_password', '', false)`);
}
