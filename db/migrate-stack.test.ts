/**
 * migrateStack on an empty database: the stack's migrations and graphile-worker's schema side by
 * side without event triggers, then the grants, one schema-reload notice and one audit entry.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readMigrations } from './migrate.ts';
import { dropDatabase, migrateStack } from './project-migrations.ts';

const name = `ms_${randomBytes(5).toString('hex')}`;
const urlOf = (database: string) => {
  const p = inject('postgres');
  return `postgresql://${p.user}:${encodeURIComponent(p.password)}@${p.host}:${p.port}/${database}`;
};
let db: pg.Client;

async function onServer<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: urlOf('postgres') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await onServer((c) => c.query(`create database ${name}`));
  db = new pg.Client({ connectionString: urlOf(name) });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await onServer((c) => dropDatabase(c, name));
});

describe('migrateStack', () => {
  it('installs both schemas, grants the services on the job schema, and reports its DDL once', async () => {
    await db.query('listen nextmavens_ddl');
    const notices: string[] = [];
    db.on('notification', (n) => notices.push(n.payload ?? ''));

    const result = await migrateStack(urlOf(name), {});
    const files = (await readMigrations()).length;
    expect(result.applied).toHaveLength(files);

    // graphile-worker's schema came in beside sql/, and sql/0028's grants reached it.
    const jobs = await db.query(`select has_table_privilege('nextmavens_auth', 'graphile_worker._private_jobs', 'insert') as can, (select count(*)::int from graphile_worker.migrations) as revisions`);
    expect(jobs.rows[0].can).toBe(true);
    expect(jobs.rows[0].revisions).toBeGreaterThan(10);

    // No `ddl.*` entry per command: one `stack.migrate` entry naming every file applied.
    const entries = await db.query(`select action, detail -> 'applied' as applied from audit.entries order by id`);
    expect(entries.rows).toHaveLength(1);
    expect(entries.rows[0].action).toBe('stack.migrate');
    expect(entries.rows[0].applied).toHaveLength(files);
    expect(entries.rows[0].applied[0]).toBe('0001_roles.sql');

    // One reload notice for the whole run (the event triggers were off).
    await new Promise((r) => setTimeout(r, 100));
    expect(notices).toEqual(['MIGRATE']);
  });

  it('leaves the event triggers on for everyone else: DDL after it is audited and announced', async () => {
    const notices: string[] = [];
    db.on('notification', (n) => notices.push(n.payload ?? ''));
    await db.query('create table public.after_migrate (id int primary key)');
    const ddl = await db.query(`select action, target from audit.entries where action like 'ddl.%'`);
    expect(ddl.rows).toContainEqual({ action: 'ddl.create_table', target: 'public.after_migrate' });
    await new Promise((r) => setTimeout(r, 100));
    expect(notices).toContain('CREATE TABLE');
  });

  it('a second run applies nothing, writes no entry and sends no notice', async () => {
    const notices: string[] = [];
    db.on('notification', (n) => notices.push(n.payload ?? ''));
    const before = (await db.query(`select count(*)::int as n from audit.entries`)).rows[0].n;
    expect((await migrateStack(urlOf(name), {})).applied).toEqual([]);
    expect((await db.query(`select count(*)::int as n from audit.entries`)).rows[0].n).toBe(before);
    await new Promise((r) => setTimeout(r, 100));
    expect(notices).toEqual([]);
  });
});
