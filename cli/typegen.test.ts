/**
 * `gen types` output type-checks with supabase-js: `createClient<Database>` accepts the
 * generated types and rejects a query on a column that does not exist.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test/helpers/db.ts';
import { generateTypesFromDatabase } from './typegen.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..');
const DIR = path.join(ROOT, '.nextmavens', `typegen-${process.pid}`);
let db: TestDatabase;
let types: string;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.admin.query(await readFile(path.join(ROOT, 'test/fixtures/rest-basic.sql'), 'utf8'));
  await db.admin.query(`create type public.mood as enum ('happy', 'sad'); alter table public.users add column mood public.mood`);
  await db.admin.query(`create function public.internal_reset() returns void language sql as $$ select $$;
    revoke all on function public.internal_reset() from public, anon, authenticated, service_role`);
  types = await generateTypesFromDatabase(db.url, ['public']);
  await mkdir(DIR, { recursive: true });
});

afterAll(async () => {
  await rm(DIR, { recursive: true, force: true });
  await db?.drop();
});

async function typecheck(snippet: string): Promise<string> {
  await writeFile(path.join(DIR, 'database.ts'), types);
  await writeFile(path.join(DIR, 'use.ts'), snippet);
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const args = [tsc, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', path.join(DIR, 'use.ts')];
  try {
    await run(process.execPath, args, { cwd: ROOT });
    return '';
  } catch (err) {
    return (err as { stdout: string }).stdout;
  }
}

describe('gen types', () => {
  it('emits Tables, Views, Functions and Enums like the Supabase CLI', () => {
    expect(types).toContain('export type Database = {');
    expect(types).toMatch(/projects: \{\n\s+Row: \{/);
    expect(types).toContain('foreignKeyName: "projects_client_id_fkey"');
    expect(types).toContain('mood: "happy" | "sad"');
    expect(types).toMatch(/sayhello: \{ Args: \{ name: string \}; Returns: string \}/);
    expect(types).toMatch(/id\?: never/); // generated always identity on todos
  });

  it('leaves out functions no API role may execute: the stack\'s enable_tenant_isolation, a revoked one of yours', () => {
    expect(types).not.toContain('enable_tenant_isolation');
    expect(types).not.toContain('internal_reset');
  });

  it('type-checks with createClient<Database>, and catches a wrong column', async () => {
    const ok = await typecheck(`
      import { createClient } from '@supabase/supabase-js';
      import type { Database, Tables } from './database.js';
      const db = createClient<Database>('http://localhost', 'key');
      export async function f() {
        const { data } = await db.from('projects').select('id, name, clients(name)').eq('id', 1);
        const name: string | undefined = data?.[0]?.name;
        const row: Tables<'users'> | null = null;
        const { data: hello } = await db.rpc('sayhello', { name: 'x' });
        const greeting: string | null = hello;
        await db.from('todos').insert({ title: 'x' });
        return [name, row, greeting];
      }
    `);
    expect(ok).toBe('');
    const bad = await typecheck(`
      import { createClient } from '@supabase/supabase-js';
      import type { Database } from './database.js';
      const db = createClient<Database>('http://localhost', 'key');
      export const q = db.from('projects').insert({ nope: 1 });
    `);
    expect(bad).toMatch(/nope/);
  }, 60_000);
});
