/**
 * `nextmavens start` as a user runs it: a child process with an embedded Postgres, the banner
 * with keys and `ready`, /health, and a clean Ctrl-C that leaves no process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMigrations } from '../db/migrate.ts';
import { body } from './helpers/http.ts';
import { freePort } from './helpers/net.ts';

const CLI = path.resolve(import.meta.dirname, '../cli/nextmavens.ts');
let dir: string;
let env: Record<string, string>;

function run(args: string[], extraEnv: Record<string, string> = {}): { child: ChildProcess; output: () => string; exited: Promise<number | string | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // The exit code, or the signal's name when a signal ended the process (so a failure says which).
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return { child, output: () => out, exited };
}

async function waitFor(predicate: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting; output:\n${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-cli-'));
  await chmod(dir, 0o755);
  env = {
    DATA_DIR: path.join(dir, 'data'),
    PORT: String(await freePort()),
    POSTGRESQL_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('nextmavens start', () => {
  let firstKeys = '';

  it('boots Postgres, migrates, prints URLs, keys and ready; Ctrl-C stops everything', async () => {
    const started = Date.now();
    const proc = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(proc.output()), 30_000, proc.output);
    const coldStartMs = Date.now() - started;
    const out = proc.output();
    expect(out).toContain(`API URL: http://localhost:${env.PORT}`);
    expect(out).toMatch(/DB URL: postgresql:\/\/nextmavens:[^@]+@127\.0\.0\.1:\d+\/nextmavens/);
    expect(out).toMatch(/anon key: eyJ/);
    expect(out).toMatch(/service_role key: eyJ/);
    firstKeys = out.match(/anon key: (\S+)/)![1];

    const health = await fetch(`http://127.0.0.1:${env.PORT}/health`);
    expect(health.status).toBe(200);
    expect((await body(health)).services.database.status).toBe('up');

    // The first start's database is initdb's `postgres` renamed, and a new `postgres` stands beside
    // it (db/embedded.ts ensureDatabase); the stack's DDL left one audit entry, not one per command.
    const dbUrl = out.match(/DB URL: (\S+)/)![1];
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const dbs = await client.query(`select datname from pg_database where not datistemplate order by datname`);
      expect(dbs.rows.map((r) => r.datname)).toEqual(['nextmavens', 'postgres']);
      const entries = await client.query(`select action, jsonb_array_length(detail -> 'applied') as files from audit.entries where action = 'stack.migrate' or action like 'ddl.%' order by id`);
      expect(entries.rows).toEqual([{ action: 'stack.migrate', files: (await readMigrations()).length }]);
    } finally {
      await client.end();
    }

    const pidFile = path.join(env.DATA_DIR, 'postgres', 'postmaster.pid');
    const pgPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    expect(alive(pgPid)).toBe(true);

    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(alive(pgPid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${env.PORT}/health`)).rejects.toThrow();
    console.log(`cold start (first run, initdb included): ${coldStartMs} ms`);
  }, 60_000);

  it('a second start reuses the cluster and prints the same keys; SIGTERM also stops cleanly', async () => {
    const proc = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(proc.output()), 30_000, proc.output);
    expect(proc.output().match(/anon key: (\S+)/)![1]).toBe(firstKeys);
    proc.child.kill('SIGTERM');
    expect(await proc.exited, proc.output()).toBe(0);
  }, 60_000);

  it('migrate alone is a no-op on a migrated database', async () => {
    const proc = run(['migrate']);
    expect(await proc.exited).toBe(0);
    expect(proc.output()).toMatch(/migrations: 0 applied, \d+ already applied/);
  }, 60_000);

  it('refuses a bad configuration with a clear message, before starting anything', async () => {
    const proc = run(['start'], { JWT_SECRET: 'too-short', PORT: 'http' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('Invalid configuration');
    expect(proc.output()).toContain('PORT must be an integer');
    expect(proc.output()).toContain('JWT_SECRET must be at least 32 characters'); // every problem at once
    expect(proc.output()).not.toMatch(/^ready: accepting requests/m);
  });

  it('gen types and migrate next to a running stack use its database and never stop it; a second start refuses', async () => {
    const stack = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(stack.output()), 30_000, stack.output);
    const anon = stack.output().match(/anon key: (\S+)/)![1];
    const dbUrl = stack.output().match(/DB URL: (\S+)/)![1];
    const pgPid = Number(readFileSync(path.join(env.DATA_DIR, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      await client.query('create table public.cli_notes (id int primary key, body text); grant select on public.cli_notes to anon; insert into public.cli_notes values (1, $$hi$$)');

      // Another POSTGRESQL_PORT in the shell: the running server is found on DATA_DIR, not by port.
      const types = run(['gen', 'types'], { POSTGRESQL_PORT: String(await freePort()) });
      expect(await types.exited, types.output()).toBe(0);
      expect(types.output()).toMatch(/cli_notes: \{/); // the stack's own database, with the table just made
      const migrated = run(['migrate']);
      expect(await migrated.exited, migrated.output()).toBe(0);
      expect(migrated.output()).toMatch(/migrations: 0 applied, \d+ already applied/);
      const second = run(['start'], { PORT: String(await freePort()) });
      expect(await second.exited).toBe(1);
      expect(second.output()).toMatch(/is in use by `nextmavens start` \(pid \d+, Postgres on port \d+\): stop it first, or set another DATA_DIR/);

      expect(alive(pgPid)).toBe(true);
      expect((await client.query('select count(*)::int as n from public.cli_notes')).rows[0].n).toBe(1);
      const health = await fetch(`http://127.0.0.1:${env.PORT}/health`);
      expect(health.status, JSON.stringify(await body(health))).toBe(200);
      const deadline = Date.now() + 10_000; // the REST schema cache picks the new table up
      let rows = await fetch(`http://127.0.0.1:${env.PORT}/rest/v1/cli_notes?select=id,body`, { headers: { apikey: anon } });
      while (rows.status !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        rows = await fetch(`http://127.0.0.1:${env.PORT}/rest/v1/cli_notes?select=id,body`, { headers: { apikey: anon } });
      }
      expect(await body(rows)).toEqual([{ id: 1, body: 'hi' }]);
    } finally {
      await client.end();
      stack.child.kill('SIGINT');
      expect(await stack.exited, stack.output()).toBe(0);
    }
    expect(alive(pgPid)).toBe(false);
    expect(existsSync(path.join(env.DATA_DIR, 'postgres.owner'))).toBe(false);
  }, 90_000);

  it('gen types exits non-zero, with the reason, when it cannot reach the database', async () => {
    const proc = run(['gen', 'types'], { DATABASE_URL: `postgresql://nobody:nothing@127.0.0.1:${await freePort()}/none` });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/^nextmavens: .*(ECONNREFUSED|connect)/m);
    expect(proc.output()).not.toContain('export type');
  });

  it('says which port is taken when the gateway cannot listen, and stops its Postgres', async () => {
    const blocker = run(['start']);
    await waitFor(() => /^ready: accepting requests/m.test(blocker.output()), 30_000, blocker.output);
    const second = run(['start'], { DATA_DIR: path.join(dir, 'data2'), POSTGRESQL_PORT: String(await freePort()) });
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/EADDRINUSE|address already in use/i);
    const pid2 = path.join(dir, 'data2', 'postgres', 'postmaster.pid');
    expect(existsSync(pid2)).toBe(false);
    blocker.child.kill('SIGINT');
    expect(await blocker.exited).toBe(0);
  }, 90_000);
});
