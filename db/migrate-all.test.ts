import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateAll } from './project-migrations.ts';
import { readMigrations } from './migrate.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';

let db: TestDatabase;
let dir: string;

const stateAt = async () => (await db.admin.query<{ fingerprint: string; updated_at: Date }>('select fingerprint, updated_at from nextmavens.migration_state')).rows;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nextmavens-migrate-all-'));
  await writeFile(path.join(dir, '20260101000000_notes.sql'), 'create table public.notes (id int primary key);');
  db = await createTestDatabase({ MIGRATIONS_DIR: dir });
});

afterAll(async () => {
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

describe('migrateAll (sql/0045_migration_state.sql)', () => {
  it('runs everything once and records the fingerprint last', async () => {
    expect(await stateAt()).toEqual([]);
    const result = await migrateAll(db.config, db.url);
    expect(result.project).toBe(1);
    const state = await stateAt();
    expect(state).toHaveLength(1);
    expect(state[0].fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('skips the run when the database holds the shipped set: the fingerprint stays as recorded', async () => {
    const before = await stateAt();
    const result = await migrateAll(db.config, db.url);
    expect(result).toEqual({ stack: 0, project: 0, skipped: (await readMigrations()).length + 1 });
    expect(await stateAt()).toEqual(before);
  });

  it('runs again when a record is gone, though the fingerprint is the same', async () => {
    await db.admin.query(`drop table public.notes; delete from supabase_migrations.schema_migrations where version = '20260101000000'`);
    const result = await migrateAll(db.config, db.url);
    expect(result.project).toBe(1);
    expect((await db.admin.query(`select to_regclass('public.notes') as t`)).rows[0].t).toBe('notes');
  });

  it('runs again when a migration is added, and records the new fingerprint', async () => {
    const before = await stateAt();
    await writeFile(path.join(dir, '20260102000000_more.sql'), 'alter table public.notes add column body text;');
    const result = await migrateAll(db.config, db.url);
    expect(result.project).toBe(1);
    const after = await stateAt();
    expect(after[0].fingerprint).not.toBe(before[0].fingerprint);
    expect((await migrateAll(db.config, db.url)).project).toBe(0);
  });

  it('runs again after a run cut short (no fingerprint recorded)', async () => {
    await db.admin.query('delete from nextmavens.migration_state');
    await migrateAll(db.config, db.url);
    expect(await stateAt()).toHaveLength(1);
  });
});
