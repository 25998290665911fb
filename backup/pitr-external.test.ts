/**
 * Point-in-time restore of an external Postgres whose data directory is mounted where the stack's
 * backup commands run (BACKUP_PGDATA) — compose's `db` volume. The server (Debian's PostgreSQL, another
 * major version than the embedded one) archives its WAL to BACKUP_TARGET/wal itself (its own
 * archive_command, as the compose file sets it). A base backup; then a table and objects are created,
 * the time T noted, the table dropped and objects deleted, replaced and added. With the server
 * stopped, `restore --force --to T` recovers its data directory (under a Postgres of its version,
 * BACKUP_PG_BIN_DIR) and the server, started again on it, has the table and the objects as at T.
 */
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { freePort } from '../core/free-port.ts';
import { EmbeddedPostgres } from '../db/embedded.ts';
import { createBackend } from '../storage/backend/index.ts';
import { expectAsAtT, historyAroundT, startBackupStack, type BackupStack } from '../test/helpers/backup-stack.ts';
import { DEBIAN_POSTGRES_MISSING, debianPostgresBin } from '../test/helpers/debian-postgres.ts';
import { restoreBackup } from './restore.ts';
import { backupFor } from './run.ts';
import { openStore } from './store.ts';
import { verifyBackup } from './verify.ts';
import { walArchiveSettings } from './wal-archive.ts';

const BIN = debianPostgresBin();
if (!BIN) console.warn(`backup/pitr-external.test.ts skipped: ${DEBIAN_POSTGRES_MISSING}`);

const PASSWORD = 'external-superuser-password';
let root: string;
let env: Record<string, string>;
let server: EmbeddedPostgres;

describe.skipIf(!BIN)('point-in-time restore of a mounted external Postgres (BACKUP_PGDATA)', () => {
  let a: BackupStack | undefined;
  let T: Date;
  let atT: Record<string, string | null>;

  beforeAll(async () => {
    for (const name of ['DATABASE_URL', 'POSTGRESQL_HOST', 'JWT_SECRET', 'ANON_KEY', 'SERVICE_ROLE_KEY']) delete process.env[name];
    root = await mkdtemp(path.join(os.tmpdir(), 'nm-pitr-ext-'));
    await chmod(root, 0o755);
    await mkdir(path.join(root, 'volume'), { mode: 0o755 });
    const port = await freePort();
    env = {
      DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/app`,
      JWT_SECRET: 'pitr-external-secret-of-at-least-thirty-two-characters',
      DATA_DIR: path.join(root, 'stack'),
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      STORAGE_CLEANUP_INTERVAL: '0',
      BACKUP_PITR: 'true',
      BACKUP_TARGET: path.join(root, 'target'),
      BACKUP_PGDATA: path.join(root, 'volume', 'data'),
      BACKUP_PG_BIN_DIR: BIN!,
    };
    const config = await loadConfig(env);
    // The server's own configuration (compose: the db service's command) archives to the shared target.
    server = new EmbeddedPostgres({ dataDir: config.backup.pgData!, port, user: 'postgres', password: PASSWORD, binDir: BIN, settings: walArchiveSettings(config) });
    await server.start();
    await server.ensureDatabase('app');
    a = await startBackupStack(env);
    const stack = a;
    ({ T, atT } = await historyAroundT(
      stack,
      async () => {
        const backend = await createBackend(stack.config);
        try {
          const backup = await backupFor(stack.config, { url: stack.config.postgres.url, store: await openStore(stack.config.backup.target), backend });
          expect(backup.manifest.kind).toBe('base');
        } finally {
          backend.close?.();
        }
      },
      path.join(root, 'target', 'wal'),
    ));
  }, 180_000);

  afterAll(async () => {
    await a?.close();
    await server?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('verify recovers the base backup under the server\'s own Postgres version', async () => {
    const config = await loadConfig(env);
    const result = await verifyBackup({ config, store: await openStore(config.backup.target) });
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
  }, 120_000);

  it('refuses while the server runs; stopped, restore --force --to T brings back the table and the objects as at T', async () => {
    await a!.close();
    a = undefined;
    const config = await loadConfig(env);
    const store = await openStore(config.backup.target);
    await expect(restoreBackup({ config, store, to: T, env, force: true })).rejects.toThrow(/stop the database server first/);
    await server.stop();
    const owner = await stat(config.backup.pgData!);
    const result = await restoreBackup({ config, store, to: T, env, force: true });
    expect(result.replaced).toMatch(/data\.replaced-/);
    expect(result.objects).toBe(4);
    const restored = await stat(config.backup.pgData!);
    expect([restored.uid, restored.gid]).toEqual([owner.uid, owner.gid]); // the server's own user still owns its files

    await server.start();
    a = await startBackupStack(env);
    await expectAsAtT(a, atT);
  }, 180_000);
});
