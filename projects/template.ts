/**
 * Project databases: each is `CREATE DATABASE … TEMPLATE <default>_project_template`, a copy of a
 * database the stack's migrations (sql/) and graphile-worker's schema were applied to once per
 * server and process, so creating a project takes milliseconds and needs no migration. The
 * template is left without connections (a copy needs that). A project database made by an older
 * version is brought up to date when its services open (`migrateProject`).
 */
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import { withClient } from '../db/client.ts';
import { quoteIdent } from '../db/identifiers.ts';
import { readMigrations } from '../db/migrate.ts';
import { dropDatabase, migrateStack } from '../db/project-migrations.ts';
import { serverDatabaseUrl } from './config.ts';
import { templateName } from './names.ts';

/** The stack's migrations and graphile-worker's schema on a database (a no-op when it is up to date). */
async function migrateFully(config: Config, url: string): Promise<void> {
  const { authenticatorPassword, rolePasswords } = config.postgres;
  await migrateStack(url, { authenticatorPassword, rolePasswords });
}

let newest: Promise<{ version: number; checksum: string } | undefined> | undefined;

/**
 * Brings a project's database up to date when it is behind the stack's sql/ (made by an older
 * version): one query when it is current, which it is unless the stack was upgraded.
 */
export async function migrateProject(config: Config, url: string, admin: pg.Pool): Promise<void> {
  newest ??= readMigrations().then((all) => all.at(-1));
  const last = await newest;
  if (!last) return;
  const { rows } = await admin.query<{ checksum: string }>('select checksum from nextmavens.schema_migrations where version = $1', [last.version]);
  if (rows[0]?.checksum !== last.checksum) await migrateFully(config, url);
}

const ready = new Map<string, Promise<void>>();

/** Creates (first time) and migrates the template of `server`, once per process. */
export function ensureTemplate(base: Config, server: string): Promise<void> {
  const key = serverDatabaseUrl(base, server, templateName(base));
  let p = ready.get(key);
  if (!p) {
    p = (async () => {
      const name = templateName(base);
      await withClient(serverDatabaseUrl(base, server, 'postgres'), 'nextmavens projects', async (c) => {
        const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [name]);
        if (!rowCount) await c.query(`create database ${quoteIdent(name)}`).catch((err: { code?: string }) => {
          if (err.code !== '42P04') throw err; // created meanwhile by another instance
        });
      });
      await migrateFully(base, key);
    })();
    p.catch(() => ready.delete(key));
    ready.set(key, p);
  }
  return p;
}

/** A new project database copied from the template; a connection limit when the project has one. */
export async function createProjectDatabase(base: Config, server: string, dbName: string, connections?: number): Promise<void> {
  await ensureTemplate(base, server);
  await withClient(serverDatabaseUrl(base, server, 'postgres'), 'nextmavens projects', async (c) => {
    // The template must have no session; a migrate of another instance may hold one for a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(`create database ${quoteIdent(dbName)} template ${quoteIdent(templateName(base))}`);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (connections) await c.query(`alter database ${quoteIdent(dbName)} connection limit ${Number(connections)}`);
  });
}

/** Drops a project database (its replication slots first, its sessions ended). */
export async function dropProjectDatabase(base: Config, server: string, dbName: string): Promise<void> {
  await withClient(serverDatabaseUrl(base, server, 'postgres'), 'nextmavens projects', (c) => dropDatabase(c, dbName));
}
