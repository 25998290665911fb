/**
 * The backup a configuration takes, for the CLI and the scheduled task alike: a base backup
 * (backup/create.ts) of the embedded cluster or of an external one whose data directory is mounted
 * here (BACKUP_PGDATA, compose), else a dump of the external Postgres (backup/dump.ts).
 */
import path from 'node:path';
import type { Config } from '../config/load.ts';
import type { StorageBackend } from '../storage/backend/index.ts';
import { createBackup, type BackupResult } from './create.ts';
import { createDumpBackup } from './dump.ts';
import type { BackupStore } from './store.ts';

export function backupFor(config: Config, opts: { url: string; store: BackupStore; backend: StorageBackend; progress?: (line: string) => void }): Promise<BackupResult> {
  const common = { ...opts, keep: config.backup.keep };
  if (config.postgres.embedded) return createBackup({ ...common, pgDataDir: path.join(config.dataDir, 'postgres'), secretsFile: path.join(config.dataDir, 'secrets.json') });
  return config.backup.pgData ? createBackup({ ...common, pgDataDir: config.backup.pgData }) : createDumpBackup({ ...common, binDir: config.backup.pgBinDir });
}
