/**
 * Point-in-time restore (BACKUP_PITR) on an embedded stack of its own: a base backup; then a
 * table and objects are created, the time T noted, the table dropped and objects deleted,
 * replaced and added. `restore --to T` brings the table and the objects back as they were at T
 * — into a fresh DATA_DIR (from the backup target alone: WAL archive and archived blobs), and over
 * the original DATA_DIR with --force (its old cluster moved aside).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { createBackend } from '../storage/backend/index.ts';
import { freePort } from '../test/helpers/net.ts';
import { createBackup } from './create.ts';
import { restoreBackup } from './restore.ts';
import { openStore } from './store.ts';
import { servedHash, sha256, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';

let root: string;
let target: string;

async function env(name: string): Promise<Record<string, string>> {
  return {
    DATA_DIR: path.join(root, name),
    POSTGRESQL_PORT: String(await freePort()),
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    STORAGE_CLEANUP_INTERVAL: '0',
    BACKUP_PITR: 'true',
    BACKUP_TARGET: target,
  };
}

let a: BackupStack;
let aEnv: Record<string, string>;
let T: Date;
/** What each object name held at T (null: absent). */
const atT: Record<string, string | null> = {};

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'nm-pitr-'));
  await chmod(root, 0o755);
  target = path.join(root, 'target');
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
  aEnv = await env('a');
  a = await startBackupStack(aEnv);
  const files = () => a.admin.storage.from('files');
  expect((await a.admin.storage.createBucket('files')).error).toBeNull();
  const seed = randomBytes(3000);
  await files().upload('seed.bin', seed);

  const backend = await createBackend(a.config);
  try {
    await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store: await openStore(a.config.backup.target), backend, secretsFile: path.join(a.config.dataDir, 'secrets.json') });
  } finally {
    backend.close?.();
  }

  // After the backup: a table and objects, then T.
  await a.pool.query(`create table public.ledger (id int primary key, amount int); insert into public.ledger select g, g * 10 from generate_series(1, 100) g`);
  const n1 = randomBytes(7000);
  const n2 = randomBytes(9000);
  const v1 = randomBytes(2000);
  await files().upload('n1.bin', n1);
  await files().upload('n2.bin', n2);
  await files().upload('replaced.bin', v1);
  Object.assign(atT, { 'seed.bin': sha256(seed), 'n1.bin': sha256(n1), 'n2.bin': sha256(n2), 'replaced.bin': sha256(v1), 'later.bin': null });
  await new Promise((r) => setTimeout(r, 300));
  T = (await a.pool.query<{ t: Date }>('select clock_timestamp() as t')).rows[0].t;
  await new Promise((r) => setTimeout(r, 1200));

  // The mistakes after T.
  await a.pool.query('drop table public.ledger');
  expect((await files().remove(['seed.bin', 'n1.bin'])).error).toBeNull();
  expect((await files().upload('replaced.bin', randomBytes(2500), { upsert: true })).error).toBeNull();
  expect((await files().upload('later.bin', randomBytes(100))).error).toBeNull();
  // The WAL past T reaches the archive (archive_timeout would do it within a minute).
  const { rows } = await a.pool.query<{ wal: string }>(`select pg_walfile_name(pg_switch_wal()) as wal`);
  for (let i = 0; i < 200; i++) {
    const archived = await readdir(path.join(target, 'wal')).catch(() => [] as string[]);
    if (archived.includes(rows[0].wal)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await readdir(path.join(target, 'wal'))).toContain(rows[0].wal);
}, 120_000);

afterAll(async () => {
  await a?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

async function expectAsAtT(s: BackupStack) {
  const ledger = await s.pool.query<{ n: string; total: string }>('select count(*) as n, sum(amount) as total from public.ledger');
  expect(ledger.rows[0]).toEqual({ n: '100', total: String(10 * 5050) });
  for (const [name, hash] of Object.entries(atT)) expect(await servedHash(s.admin, name), name).toBe(hash);
}

it('restore --to T into a fresh DATA_DIR, from the backup target alone: the table and the objects are as they were at T', async () => {
  const e = await env('fresh');
  const result = await restoreBackup({ config: await loadConfig(e), store: await openStore((await loadConfig(e)).backup.target), to: T, env: e });
  expect(result.objects).toBe(4);
  const b = await startBackupStack(e);
  try {
    await expectAsAtT(b);
  } finally {
    await b.close();
  }
}, 120_000);

it('restore --force --to T over the original DATA_DIR: the same, with the old cluster moved aside', async () => {
  // Before T's objects vanish from the original storage, prove they are gone there now.
  expect(await servedHash(a.admin, 'n1.bin')).toBeNull();
  await a.close();
  a = undefined as never;
  const config = await loadConfig(aEnv);
  await expect(restoreBackup({ config, store: await openStore(config.backup.target), to: T, env: aEnv })).rejects.toThrow(/--force/);
  const result = await restoreBackup({ config, store: await openStore(config.backup.target), to: T, env: aEnv, force: true });
  expect(result.replaced).toBeDefined();
  a = await startBackupStack(aEnv);
  await expectAsAtT(a);
}, 120_000);
