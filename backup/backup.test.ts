/**
 * Backups of the database and the storage objects together, on embedded stacks of their own
 * (a base backup copies a whole cluster, so not the test run's shared one):
 * - backup while uploads, overwrites and deletes run → restore into a fresh DATA_DIR → the
 *   stack serves the same rows and keys, and every row's blob, exactly the manifest's objects;
 * - `backup verify` restores into a throwaway Postgres and checks counts and checksums, and
 *   finds a damaged backup;
 * - an S3 target (s3rver): backup, verify, restore from it;
 * - retention (BACKUP_KEEP) and a refused restore over a cluster without --force.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { blobKey } from '../storage/backend/index.ts';
import { holdBlobDeletions } from '../db/blob-guard.ts';
import { cleanupStorage } from '../storage/cleanup.ts';
import { startFakeTelegram, type FakeTelegram } from '../test/helpers/fake-telegram.ts';
import { freePort } from '../test/helpers/net.ts';
import { createBackup, type BackupResult } from './create.ts';
import { isDump, listBackups } from './manifest.ts';
import { restoreBackup, RestoreRefused } from './restore.ts';
import { openStore, type BackupStore } from './store.ts';
import { verifyBackup } from './verify.ts';
import { duringChurn, expectServesBackup, seedNotesAndFiles, servedObjects, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';

let root: string;

/** The environment of an embedded stack in its own DATA_DIR. */
async function stackEnv(name: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return { DATA_DIR: path.join(root, name), POSTGRESQL_PORT: String(await freePort()), PORT: String(await freePort()), HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORAGE_CLEANUP_INTERVAL: '0', ...extra };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'nm-backup-'));
  await chmod(root, 0o755);
  for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('backup and restore (directory target)', () => {
  let a: BackupStack;
  let store: BackupStore;
  let backup: BackupResult;

  beforeAll(async () => {
    a = await startBackupStack(await stackEnv('a'));
    store = await openStore({ kind: 'dir', dir: path.join(root, 'backups-a') });
    await seedNotesAndFiles(a);
  });
  afterAll(async () => {
    await a?.close();
  });

  it('backs up while uploads, overwrites and deletes run; the manifest lists exactly the restore point\'s objects', async () => {
    const { result, writes } = await duringChurn(a, () =>
      createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store, backend: a.backend, secretsFile: path.join(a.config.dataDir, 'secrets.json') }),
    );
    backup = result;
    expect(writes).toBeGreaterThan(3);
    const m = backup.manifest;
    expect(backup.location).toBe(path.join(root, 'backups-a', 'backups', backup.id));
    expect(m.rows['public.notes']).toBeGreaterThanOrEqual(500);
    expect(m.rows['storage.objects']).toBe(m.objects.length);
    expect(m.objects.length).toBeGreaterThanOrEqual(20);
    expect(m.kind).toBe('base');
    expect(!isDump(m) && m.base.sha256).toMatch(/^[0-9a-f]{64}$/);
    for (const o of m.objects) expect(existsSync(path.join(root, 'backups-a', o.file)), o.key).toBe(true);
  });

  it('while a backup holds blob deletions, removed objects keep their blobs as orphans; cleanup collects them after', async () => {
    const files = a.admin.storage.from('files');
    expect((await files.upload('held/x.bin', randomBytes(100))).error).toBeNull();
    const { rows } = await a.pool.query<{ bucket_id: string; name: string; version: string }>(`select bucket_id, name, version from storage.objects where name = 'held/x.bin'`);
    const key = blobKey(rows[0]);
    const holder = await a.pool.connect();
    try {
      const guard = await holdBlobDeletions(holder);
      expect((await files.remove(['held/x.bin'])).data).toHaveLength(1);
      expect(await a.backend.head(key)).not.toBeNull(); // a running backup may still copy it
      expect((await cleanupStorage(a.backend, a.pool, { graceMs: 0 })).orphanBlobs).toBe(0);
      await guard.release();
    } finally {
      holder.release();
    }
    // This one, and those the backup above left by holding off the churn's deletions.
    expect((await cleanupStorage(a.backend, a.pool, { graceMs: 0 })).orphanBlobs).toBeGreaterThanOrEqual(1);
    expect(await a.backend.head(key)).toBeNull();
  });

  it('verify restores the backup into a throwaway Postgres and checks every count and checksum', async () => {
    const result = await verifyBackup({ config: a.config, store });
    expect(result).toMatchObject({ backup: backup.id, ok: true, problems: [], objects: backup.manifest.objects.length });
    expect(result.rows).toBe(Object.values(backup.manifest.rows).reduce((x, y) => x + y, 0));
    expect(JSON.parse(await readFile(path.join(root, 'backups-a', 'backups', backup.id, 'verified.json'), 'utf8'))).toMatchObject({ ok: true });
  });

  it('restore into a fresh DATA_DIR: the stack starts on it and serves the same rows, keys and bytes; every row has its blob', async () => {
    const env = await stackEnv('b');
    const result = await restoreBackup({ config: await loadConfig(env), store, env });
    expect(result).toMatchObject({ id: backup.id, objects: backup.manifest.objects.length, copied: backup.manifest.objects.length });
    const b = await startBackupStack(env);
    try {
      expect(b.config.serviceRoleKey).toBe(a.config.serviceRoleKey); // the same generated secrets
      await expectServesBackup(b, backup.manifest);
    } finally {
      await b.close();
    }
  });

  it('refuses to restore over a cluster without --force; with it, the old cluster is moved aside', async () => {
    const env = { ...(await stackEnv('b')) };
    await expect(restoreBackup({ config: await loadConfig(env), store, env })).rejects.toThrow(RestoreRefused);
    const forced = await restoreBackup({ config: await loadConfig(env), store, env, force: true });
    expect(forced.replaced).toMatch(/postgres\.replaced-/);
    expect(existsSync(path.join(forced.replaced!, 'PG_VERSION'))).toBe(true);
  });

  it('verify finds a damaged backup; retention keeps the newest BACKUP_KEEP', async () => {
    const second = await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store, backend: a.backend });
    const m = second.manifest;
    expect(m.bytes.objectsStored).toBeLessThan(m.bytes.objects); // unchanged objects are shared with the first backup
    const victim = path.join(root, 'backups-a', m.objects[0].file);
    const original = await readFile(victim);
    await writeFile(victim, Buffer.concat([original.subarray(0, 10), Buffer.from('damage'), original.subarray(16)]));
    const bad = await verifyBackup({ config: a.config, store, id: second.id });
    expect(bad.ok).toBe(false);
    expect(bad.problems.join('\n')).toMatch(new RegExp(`object ${m.objects[0].key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (checksum mismatch|unreadable)`));
    await writeFile(victim, original);

    const third = await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store, backend: a.backend, keep: 2 });
    expect(await listBackups(store)).toEqual([second.id, third.id]);
    expect(existsSync(path.join(root, 'backups-a', 'backups', backup.id))).toBe(false);
    expect((await verifyBackup({ config: a.config, store })).problems).toEqual([]); // the kept ones are whole
  });
});

describe('backup to S3 (s3rver) and restore from it', () => {
  let server: S3rver;
  let a: BackupStack;

  beforeAll(async () => {
    const port = await freePort();
    server = new S3rver({ port, address: '127.0.0.1', directory: path.join(root, 's3rver'), silent: true });
    await server.run();
    const s3 = { BACKUP_S3_ENDPOINT: `http://127.0.0.1:${port}`, BACKUP_S3_ACCESS_KEY: 'S3RVER', BACKUP_S3_SECRET_KEY: 'S3RVER', BACKUP_TARGET: 's3://nm-backups/site/one' };
    a = await startBackupStack(await stackEnv('s3a', s3));
    expect((await a.admin.storage.createBucket('pics')).error).toBeNull();
    for (let i = 0; i < 5; i++) await a.admin.storage.from('pics').upload(`p${i}.bin`, randomBytes(40_000));
  });
  afterAll(async () => {
    await a?.close();
    await server?.close();
  });

  it('backup, verify and restore through the bucket', async () => {
    const store = await openStore(a.config.backup.target);
    expect(store.location).toBe('s3://nm-backups/site/one');
    const backup = await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store, backend: a.backend, secretsFile: path.join(a.config.dataDir, 'secrets.json') });
    expect(backup.location).toBe(`s3://nm-backups/site/one/backups/${backup.id}`);
    expect((await verifyBackup({ config: a.config, store })).ok).toBe(true);
    const env = await stackEnv('s3b', { BACKUP_S3_ENDPOINT: a.config.backup.target.kind === 's3' ? a.config.backup.target.endpoint : '', BACKUP_S3_ACCESS_KEY: 'S3RVER', BACKUP_S3_SECRET_KEY: 'S3RVER' });
    await restoreBackup({ config: await loadConfig(env), store, env });
    const b = await startBackupStack(env);
    try {
      expect(await servedObjects(b)).toEqual(backup.manifest.objects.map((o) => o.key).sort());
      expect(backup.manifest.objects).toHaveLength(5);
    } finally {
      await b.close();
    }
  });
});

describe('backup and restore with the telegram backend', () => {
  let fake: FakeTelegram;
  let a: BackupStack;

  beforeAll(async () => {
    fake = await startFakeTelegram({ uploadLimit: 64 * 1024, downloadLimit: 64 * 1024 });
    const tg = { STORAGE_BACKEND: 'telegram', TELEGRAM_API_URL: fake.url, TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_CHANNEL_ID: fake.channelId, TELEGRAM_CHUNK_SIZE: String(64 * 1024) };
    a = await startBackupStack(await stackEnv('tga', tg));
    expect((await a.admin.storage.createBucket('docs')).error).toBeNull();
    for (let i = 0; i < 3; i++) expect((await a.admin.storage.from('docs').upload(`d${i}.bin`, randomBytes(150_000))).error).toBeNull();
  });
  afterAll(async () => {
    await a?.close();
    await fake?.close();
  });

  it('the objects are read from the channel into the backup, and sent to it again on restore', async () => {
    const store = await openStore({ kind: 'dir', dir: path.join(root, 'backups-tg') });
    const backup = await createBackup({ url: a.config.postgres.url, pgDataDir: path.join(a.config.dataDir, 'postgres'), store, backend: a.backend, secretsFile: path.join(a.config.dataDir, 'secrets.json') });
    expect(backup.manifest.objects).toHaveLength(3);
    expect(backup.manifest.storageBackend).toBe('telegram');
    const sent = fake.calls.sendDocument;
    const env = await stackEnv('tgb', { STORAGE_BACKEND: 'telegram', TELEGRAM_API_URL: fake.url, TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_CHANNEL_ID: fake.channelId, TELEGRAM_CHUNK_SIZE: String(64 * 1024) });
    await restoreBackup({ config: await loadConfig(env), store, env });
    expect(fake.calls.sendDocument - sent).toBe(9); // 3 objects of 3 chunks each, sent anew
    const b = await startBackupStack(env);
    try {
      expect(await servedObjects(b)).toEqual(backup.manifest.objects.map((o) => o.key).sort());
    } finally {
      await b.close();
    }
  });
});
