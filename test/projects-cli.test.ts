/**
 * Projects as the README tells it, with the CLI beside a running `nextmavens start` (embedded
 * Postgres): `projects create` prints a URL and keys that supabase-js uses at once on the running
 * stack, `projects pause` from the CLI holds at once in the stack (the registry's NOTIFY),
 * `projects keys` prints the same keys, and `projects delete` takes a backup with the backup tools
 * (a base backup of the embedded cluster plus the project's objects) before it deletes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@supabase/supabase-js';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, startCli, type CliProject, type StartedCli } from './helpers/cli.ts';
import { freePort } from './helpers/net.ts';

let project: CliProject;
let stack: StartedCli;
let port: string;

const field = (out: string, name: string) => new RegExp(`${name}: (\\S+)`).exec(out)?.[1];

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nm-projects-'));
  port = String(await freePort());
  project = { dir, env: { DATA_DIR: path.join(dir, '.nextmavens'), PORT: port, POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'warn', AUTH_BCRYPT_COST: '4' } };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'MIGRATIONS_DIR', 'SEED_FILE']) delete process.env[name];
  stack = await startCli(project);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(project.dir, { recursive: true, force: true });
});

it('create, use, pause, resume, keys and delete with a backup first, from the CLI next to a running stack', async () => {
  const created = await runCli(project, ['projects', 'create', 'shop', '--autoconfirm']);
  expect(created.code, created.out).toBe(0);
  const url = field(created.stdout, 'API URL');
  const anon = field(created.stdout, 'anon key')!;
  expect(url).toBe(`http://shop.localhost:${port}`);
  expect(created.stdout).toMatch(/project shop created in \d+ ms/);

  const dbUrl = new URL(stack.dbUrl);
  dbUrl.pathname = '/nextmavens_shop';
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  await db.query(`create table public.items (id int primary key, name text); grant select on public.items to anon; insert into public.items values (1, 'only in shop')`);
  await db.end();

  const shop = createClient(`http://localhost:${port}/project/shop`, anon, { auth: { persistSession: false } });
  expect((await shop.from('items').select('name')).data).toEqual([{ name: 'only in shop' }]);
  expect((await createClient(`http://localhost:${port}`, stack.anonKey).from('items').select('name')).error?.code).toBe('PGRST205');

  expect((await runCli(project, ['projects', 'pause', 'shop'])).stdout).toContain('project shop is paused');
  expect((await shop.from('items').select('name')).status).toBe(503);
  expect((await runCli(project, ['projects', 'resume', 'shop'])).code).toBe(0);
  expect((await shop.from('items').select('name')).status).toBe(200);

  const listed = await runCli(project, ['projects', 'list']);
  expect(listed.stdout).toMatch(/^shop\tactive\tdefault\tnextmavens_shop\t/m);
  expect(field((await runCli(project, ['projects', 'keys', 'shop'])).stdout, 'anon key')).toBe(anon);
  expect((await runCli(project, ['projects', 'create', 'shop'])).stderr).toContain('exists already');
  expect((await runCli(project, ['projects', 'pause'])).code).toBe(1);

  const deleted = await runCli(project, ['projects', 'delete', 'shop']);
  expect(deleted.code, deleted.out).toBe(0);
  const backup = /its backup: (\S+)/.exec(deleted.stdout)?.[1];
  expect(backup).toContain(path.join('backups', 'projects', 'shop'));
  expect(existsSync(path.join(backup!, 'manifest.json'))).toBe(true);
  expect((await shop.from('items').select('name')).status).toBe(404);
  expect((await runCli(project, ['projects', 'list'])).stdout).toContain('no projects yet');
}, 180_000);
