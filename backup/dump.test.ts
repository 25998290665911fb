/**
 * Backups of an external Postgres (DATABASE_URL), as compose runs it: a dump with pg_dump beside the
 * objects. The external server is a PostgreSQL of another major version than the embedded one —
 * Debian's (/usr/lib/postgresql/<major>/bin, with its own pg_dump and pg_restore) — started on a
 * port of its own; the stack runs over it as in compose.
 * - backup while uploads, overwrites and deletes run → restore into an empty database → the stack
 *   serves the same rows, and every row's blob, exactly the manifest's objects;
 * - a non-empty database is refused without --force, replaced with it; a running stack refuses;
 * - `backup verify` restores into a throwaway database of the server and finds a damaged dump;
 * - the CLI: `nextmavens backup` and `restore` with DATABASE_URL.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { freePort } from '../core/free-port.ts';
import { duringChurn, expectServesBackup, seedNotesAndFiles, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';
import { runCli } from '../test/helpers/cli.ts';
import { DEBIAN_POSTGRES_MISSING, debianPostgresBin } from '../test/helpers/debian-postgres.ts';
import type { BackupResult } from './create.ts';
import { createDumpBackup } from './dump.ts';
import { isDump, RestoreRefused } from './manifest.ts';
import { restoreBackup } from './restore.ts';
import { openStore, type BackupStore } from './store.ts';
import { verifyBackup } from './verify.ts';

const BIN = debianPostgresBin();
if (!BIN) console.warn(`backup/dump.test.ts skipped: ${DEBIAN_POSTGRES_MISSING}`);

const PASSWORD = 'external-superuser-password';
const JWT_SECRET = 'dump-test-secret-of-at-least-thirty-two-characters';

let root: string;
let server: EmbeddedPostgres;
let port: number;

const dbUrl = (db: string) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${db}`;

async function stackEnv(name: string, db: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    DATA_DIR: path.join(root, name),
    DATABASE_URL: dbUrl(db),
    JWT_SECRET,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    STORAGE_CLEANUP_INTERVAL: '0',
    ...extra,
  };
}

async function createDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: dbUrl('postgres') });
  await c.connect();
  try {
    await c.query(`create database ${c.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
}

describe.skipIf(!BIN)('backups of an external Postgres (pg_dump)', () => {
  let a: BackupStack;
  let store: BackupStore;
  let backup: BackupResult;

  beforeAll(async () => {
    for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
    root = await mkdtemp(path.join(os.tmpdir(), 'nm-dump-'));
    await chmod(root, 0o755);
    port = await freePort();
    server = new EmbeddedPostgres({ dataDir: path.join(root, 'external'), port, user: 'postgres', password: PASSWORD, binDir: BIN });
    await server.start();
    await server.ensureDatabase('app');
    a = await startBackupStack(await stackEnv('a', 'app'));
    store = await openStore({ kind: 'dir', dir: path.join(root, 'backups') });
    await seedNotesAndFiles(a);
  }, 120_000);
  afterAll(async () => {
    await a?.close();
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('dumps while uploads, overwrites and deletes run; the manifest lists exactly the snapshot\'s objects', async () => {
    ({ result: backup } = await duringChurn(a, () => createDumpBackup({ url: a.config.postgres.url, store, backend: a.backend })));
    const m = backup.manifest;
    expect(isDump(m) && m.dump.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(isDump(m) && m.pgDump).toMatch(/\(PostgreSQL\) \d+/);
    expect(m.rows['public.notes']).toBeGreaterThanOrEqual(500);
    expect(m.rows['storage.objects']).toBe(m.objects.length);
    expect(isDump(m) && m.roles.map((r) => r.name)).toEqual(expect.arrayContaining(['anon', 'authenticated', 'service_role', 'authenticator']));
    for (const o of m.objects) expect(existsSync(path.join(root, 'backups', o.file)), o.key).toBe(true);
  });

  it('refuses to restore while the stack is connected to the database', async () => {
    const env = await stackEnv('a', 'app');
    await expect(restoreBackup({ config: await loadConfig(env), store, env, force: true })).rejects.toThrow(/stack is connected/);
  });

  it('restores into an empty database: the stack serves the same rows, keys and bytes; every row has its blob', async () => {
    await createDatabase('restored');
    const env = await stackEnv('b', 'restored');
    const result = await restoreBackup({ config: await loadConfig(env), store, env });
    expect(result).toMatchObject({ id: backup.id, objects: backup.manifest.objects.length, copied: backup.manifest.objects.length });
    expect(result.into).not.toContain(PASSWORD);
    const b = await startBackupStack(env);
    try {
      const anon = await expectServesBackup(b, backup.manifest);
      // The restored database is a working one: a new user signs up and writes.
      const { error } = await anon.auth.signUp({ email: 'after-restore@example.com', password: 'a-long-password-1' });
      expect(error).toBeNull();
    } finally {
      await b.close();
    }
  });

  it('refuses a database that is not empty without --force; with it, the database is replaced', async () => {
    const env = await stackEnv('b', 'restored');
    await expect(restoreBackup({ config: await loadConfig(env), store, env })).rejects.toThrow(RestoreRefused);
    const c = new pg.Client({ connectionString: dbUrl('restored') });
    await c.connect();
    try {
      await c.query(`create table public.stray (x int); insert into public.notes (body) values ('after the backup')`);
      await restoreBackup({ config: await loadConfig(env), store, env, force: true });
      const { rows } = await c.query<{ n: number; stray: string | null }>(`select count(*)::int as n, to_regclass('public.stray')::text as stray from public.notes`);
      expect(rows[0]).toEqual({ n: backup.manifest.rows['public.notes'], stray: null });
    } finally {
      await c.end();
    }
  });

  it('verify restores the dump into a throwaway database and checks every count and checksum; it finds a damaged dump', async () => {
    const result = await verifyBackup({ config: a.config, store });
    expect(result).toMatchObject({ backup: backup.id, ok: true, problems: [], objects: backup.manifest.objects.length });
    expect(result.rows).toBe(Object.values(backup.manifest.rows).reduce((x, y) => x + y, 0));
    const c = new pg.Client({ connectionString: dbUrl('postgres') });
    await c.connect();
    const { rows } = await c.query<{ n: number }>(`select count(*)::int as n from pg_database where datname like 'nextmavens_verify_%'`);
    await c.end();
    expect(rows[0].n).toBe(0); // the throwaway database is gone

    const file = path.join(root, 'backups', isDump(backup.manifest) ? backup.manifest.dump.file : '');
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await writeFile(file, bytes);
    const damaged = await verifyBackup({ config: a.config, store });
    expect(damaged.ok).toBe(false);
    expect(damaged.problems.join('\n')).toMatch(/database\.dump\.zst: the backup is damaged/);
  });

  it('the CLI backs up an external database and restores it into an empty one', async () => {
    const env = { ...(await stackEnv('a', 'app')), BACKUP_TARGET: path.join(root, 'cli-backups') };
    const made = await runCli({ dir: root, env }, ['backup']);
    expect(made.code, made.stderr).toBe(0);
    const location = made.stdout.trim().split('\n').pop()!;
    expect(location).toMatch(/cli-backups\/backups\/\d{8}T\d{9}Z$/);
    expect(made.stderr).toMatch(/pg_dump of app/);

    await createDatabase('from_cli');
    const restored = await runCli({ dir: root, env: await stackEnv('c', 'from_cli') }, ['restore', location]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout.trim()).toMatch(/\/from_cli$/);
    const pitr = await runCli({ dir: root, env: await stackEnv('c', 'from_cli') }, ['restore', location, '--to', '2026-12-01 10:00:00Z']);
    expect(pitr.code).toBe(1);
    expect(pitr.stderr).toMatch(/point in time/);
  });
});
