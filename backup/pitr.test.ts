/**
 * Point-in-time restore (BACKUP_PITR) on an embedded stack of its own: a base backup; then a
 * table and objects are created, the time T noted, the table dropped and objects deleted,
 * replaced and added. `restore --to T` brings the table and the objects back as they were at T
 * — into a fresh DATA_DIR (from the backup target alone: WAL archive and archived blobs), and over
 * the original DATA_DIR with --force (its old cluster moved aside).
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { createBackend } from '../storage/backend/index.ts';
import { freePort } from '../test/helpers/net.ts';
import { createBackup } from './create.ts';
import { restoreBackup } from './restore.ts';
import { openStore } from './store.ts';
import { expectAsAtT, historyAroundT, servedHash, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';

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
let atT: Record<string, string | null>;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'nm-pitr-'));
  await chmod(root, 0o755);
  target = path.join(root, 'target');
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
  aEnv = await env('a');
  a = await startBackupStack(aEnv);
  ({ T, atT } = await historyAroundT(
    a,
    async () => {
      const backend = await createBackend(a.config);
      try {
        await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store: await openStore(a.config.backup.target), backend, secretsFile: path.join(a.config.dataDir, 'secrets.json') });
      } finally {
        backend.close?.();
      }
    },
    path.join(target, 'wal'),
  ));
}, 120_000);

afterAll(async () => {
  await a?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

it('restore --to T into a fresh DATA_DIR, from the backup target alone: the table and the objects are as they were at T', async () => {
  const e = await env('fresh');
  const result = await restoreBackup({ config: await loadConfig(e), store: await openStore((await loadConfig(e)).backup.target), to: T, env: e });
  expect(result.objects).toBe(4);
  const b = await startBackupStack(e);
  try {
    await expectAsAtT(b, atT);
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
  await expectAsAtT(a, atT);
}, 120_000);
