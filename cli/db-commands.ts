/**
 * The schema workflow, like the Supabase CLI's: `migration new <name>` (a timestamped file in
 * MIGRATIONS_DIR), `db push` / `migrate` (the stack's migrations, then yours), `db reset` (the
 * database recreated from the migrations plus SEED_FILE), `db diff` (the SQL that turns the
 * migrations' schema into the live one, computed against a shadow database by @pgkit/migra).
 * Every command works on the running stack's database when one is up (never stopping it), else
 * on the configured one.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Config } from '../config/load.ts';
import { createLogger } from '../config/logger.ts';
import { quoteIdent } from '../db/identifiers.ts';
import { migrateAll, newProjectMigration, recreateDatabase, runSeed } from '../db/project-migrations.ts';
import { startDatabase } from './stack.ts';
import { optionValue } from './args.ts';

const say = (m: string) => process.stdout.write(`${m}\n`);
const relative = (file: string) => path.relative(process.cwd(), file) || file;

export async function commandMigrationNew(config: Config, name: string | undefined): Promise<void> {
  if (!name) throw new Error('migration new: name the migration, e.g. `nextmavens migration new add_todos`');
  say(`created ${relative(await newProjectMigration(config.postgres.migrationsDir, name))}`);
}

/** `db push` / `migrate`. */
export async function commandDbPush(config: Config, command: string): Promise<void> {
  const database = await startDatabase(config, createLogger(config), { command, share: true });
  try {
    const applied = await migrateAll(config, database.url, say);
    say(`migrations: ${applied.stack + applied.project} applied, ${applied.skipped} already applied (${applied.project} of them from ${relative(config.postgres.migrationsDir)})`);
  } finally {
    await database.stop();
  }
}

/**
 * `db reset`: refuses while a stack runs on the embedded database (its connections and
 * replication slot would be cut from under it), and needs `--force` for an external database.
 */
export async function commandDbReset(config: Config, args: string[]): Promise<void> {
  if (!config.postgres.embedded && !args.includes('--force')) {
    throw new Error(`db reset: this drops and recreates ${config.postgres.database} on ${config.postgres.host}; add --force to do so`);
  }
  const database = await startDatabase(config, createLogger(config), { command: 'db reset', share: true });
  try {
    if (database.sharedWith) throw new Error(`db reset: the database is in use by ${database.sharedWith}; stop it first`);
    await recreateDatabase(database.url);
    say(`recreated database ${config.postgres.database}`);
    const applied = await migrateAll(config, database.url, say);
    const seeded = await runSeed(database.url, config.postgres.seedFile);
    say(`migrations: ${applied.stack + applied.project} applied (${applied.project} of them from ${relative(config.postgres.migrationsDir)}); seed ${seeded ? `${relative(config.postgres.seedFile)} run` : 'file not found, skipped'}`);
  } finally {
    await database.stop();
  }
}

/** A database next to `url`'s, migrated from scratch, for diffing; dropped by `drop()`. */
async function shadowDatabase(config: Config, url: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `nextmavens_shadow_${randomBytes(4).toString('hex')}`;
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: maintenance.toString() });
  await admin.connect();
  await admin.query(`create database ${quoteIdent(name)}`);
  await admin.end();
  const shadow = new URL(url);
  shadow.pathname = `/${name}`;
  const drop = async () => {
    const c = new pg.Client({ connectionString: maintenance.toString() });
    await c.connect();
    await c.query(`drop database if exists ${quoteIdent(name)} with (force)`).finally(() => c.end());
  };
  try {
    await migrateAll(config, shadow.toString(), () => undefined);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url: shadow.toString(), drop };
}

/** The SQL that turns the migrations' schema `schema` into the live one (empty: no difference). */
export async function diffSchema(config: Config, url: string, schema: string): Promise<string> {
  const { run } = await import('@pgkit/migra');
  const shadow = await shadowDatabase(config, url);
  try {
    const migration = await run(shadow.url, url, { unsafe: true, schema });
    return migration.sql.trim();
  } finally {
    await shadow.drop();
  }
}

/** `db diff [--schema s] [-f name]`: prints the SQL, or writes it as a new migration with -f. */
export async function commandDbDiff(config: Config, args: string[]): Promise<void> {
  const option = (flag: string) => optionValue(args, flag);
  const schema = option('--schema') ?? 'public';
  const file = option('-f') ?? option('--file');
  const database = await startDatabase(config, createLogger(config), { command: 'db diff', share: true });
  try {
    const sql = await diffSchema(config, database.url, schema);
    if (!sql) {
      process.stderr.write(`db diff: no changes in schema ${schema}\n`);
      return;
    }
    if (!file) {
      process.stdout.write(`${sql}\n`);
      return;
    }
    const created = await newProjectMigration(config.postgres.migrationsDir, file);
    await writeFile(created, `${sql}\n`);
    say(`wrote ${relative(created)}`);
  } finally {
    await database.stop();
  }
}
