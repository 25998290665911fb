/**
 * The schema workflow as a user runs it, in a project folder with the Supabase CLI layout:
 * `migration new`, `db push` against the running stack (REST serves the new table at once),
 * `db diff` after a change made live, `db reset` (refused while the stack runs, then migrations
 * plus seed.sql — a Supabase-style seed with unqualified names and a GoTrue auth.users row), and
 * `npm start` applying a pending (unqualified) migration into public and saying so.
 */
import { readdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, type CliProject, type StartedCli } from './helpers/cli.ts';
import { freePort } from './helpers/net.ts';

let project: CliProject;
let stack: StartedCli | undefined;
const cli = (args: string[]) => runCli(project, args);
async function start(): Promise<StartedCli> {
  stack = await startCli(project, { LOG_LEVEL: 'info' });
  return stack;
}
async function stop(): Promise<void> {
  await stack?.stop();
  stack = undefined;
}

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nm-schema-'));
  project = { dir, env: { DATA_DIR: path.join(dir, '.nextmavens'), PORT: String(await freePort()), POSTGRESQL_PORT: String(await freePort()), LOG_LEVEL: 'warn' } };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY', 'MIGRATIONS_DIR', 'SEED_FILE']) delete process.env[name];
}, 10_000);

afterAll(async () => {
  await stop();
  await rm(project.dir, { recursive: true, force: true });
});

describe('migrations of your own, like the Supabase CLI', () => {
  let started: StartedCli;
  const migrations = () => path.join(project.dir, 'supabase/migrations');

  it('migration new + db push apply to the running stack, and REST serves the table at once', async () => {
    started = await start();
    const made = await cli(['migration', 'new', 'Add todos']);
    expect(made.code).toBe(0);
    const [file] = await readdir(migrations());
    expect(file).toMatch(/^\d{14}_add_todos\.sql$/);
    expect(made.out).toContain(`supabase/migrations/${file}`);
    await writeFile(path.join(migrations(), file), 'create table public.todos (id bigint generated always as identity primary key, title text not null);\n');

    const pushed = await cli(['db', 'push']);
    expect(pushed.code).toBe(0);
    expect(pushed.out).toContain(`applied ${file}`);
    expect(pushed.out).toMatch(/migrations: 1 applied, \d+ already applied \(1 of them from supabase\/migrations\)/);
    const again = await cli(['db', 'push']);
    expect(again.out).toMatch(/migrations: 0 applied, \d+ already applied \(0 of them from supabase\/migrations\)/);

    let res: Response | undefined;
    for (let i = 0; i < 50 && res?.status !== 200; i++) {
      res = await fetch(`http://127.0.0.1:${project.env.PORT}/rest/v1/todos`, { headers: { apikey: started.anonKey } });
      if (res.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(res!.status).toBe(200);
    expect(await res!.json()).toEqual([]);
  }, 90_000);

  it('db diff prints the SQL of a change made live, and -f writes it as a new migration', async () => {
    const client = new pg.Client({ connectionString: started.dbUrl });
    await client.connect();
    await client.query('alter table public.todos add column done boolean not null default false');
    await client.end();
    const diff = await cli(['db', 'diff']);
    expect(diff.code).toBe(0);
    expect(diff.out).toMatch(/alter table "public"\."todos" add column "done" boolean not null default false/i);
    const written = await cli(['db', 'diff', '-f', 'todos done']);
    expect(written.code).toBe(0);
    const files = (await readdir(migrations())).sort();
    expect(files).toHaveLength(2);
    expect(files[1]).toMatch(/_todos_done\.sql$/);
    expect(await readFile(path.join(migrations(), files[1]), 'utf8')).toMatch(/add column "done"/i);
  }, 90_000);

  it('db reset refuses while the stack runs; stopped, it rebuilds from the migrations and seed.sql', async () => {
    const refused = await cli(['db', 'reset']);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/in use by `?nextmavens start/);
    await stop();
    // A seed as Supabase projects write them: unqualified names, and a user inserted with GoTrue's columns.
    await writeFile(
      path.join(project.dir, 'supabase/seed.sql'),
      `insert into todos (title, done) values ('seeded', true);
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data,
  created_at, updated_at, confirmation_token, email_change, email_change_token_new, recovery_token)
values ('00000000-0000-0000-0000-000000000000', '5eed0000-0000-4000-8000-000000000001', 'authenticated', 'authenticated', 'seed@example.com',
  extensions.crypt('seed-password', extensions.gen_salt('bf')), now(), '{"provider":"email","providers":["email"]}', '{}', now(), now(), '', '', '', '');
`,
    );
    const reset = await cli(['db', 'reset']);
    expect(reset.code, reset.out).toBe(0);
    expect(reset.out).toMatch(/\(2 of them from supabase\/migrations\); seed supabase\/seed.sql run/);
  }, 90_000);

  it('npm start applies a pending migration and says so', async () => {
    const made = await cli(['migration', 'new', 'notes']);
    const file = made.out.match(/created (\S+)/)![1];
    // Unqualified, as Supabase migrations often are: it lands in public, where the APIs see it.
    await writeFile(path.join(project.dir, file), 'create table notes (id int primary key);\n');
    const again = await start();
    expect(again.banner).toContain(`applied ${path.basename(file)}`);
    const notes = await fetch(`http://127.0.0.1:${project.env.PORT}/rest/v1/notes`, { headers: { apikey: again.anonKey } });
    expect(notes.status).toBe(200);
    const signIn = await fetch(`http://127.0.0.1:${project.env.PORT}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { apikey: again.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'seed@example.com', password: 'seed-password' }),
    });
    expect(signIn.status).toBe(200);
    const res = await fetch(`http://127.0.0.1:${project.env.PORT}/rest/v1/todos?select=title,done`, { headers: { apikey: again.anonKey } });
    expect(await res.json()).toEqual([{ title: 'seeded', done: true }]);
  }, 90_000);
});
