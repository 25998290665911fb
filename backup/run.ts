/**
 * The backup a configuration takes, for the CLI and the scheduled task alike: a base backup of the
 * embedded cluster (backup/create.ts), or a dump of an external Postgres (backup/dump.ts).
 */
import path from 'node:path';
import type { Config } from '../config/load.ts';
import type { StorageBackend } from '../storage/backend/index.ts';
import { createBackup, type BackupResult } from './create.ts';
import { createDumpBackup } from './dump.ts';
import type { BackupStore } from './store.ts';

export function backupFor(config: Config, opts: { url: string; store: BackupStore; backend: StorageBackend; progress?: (line: string) => void }): Promise<BackupResult> {
  const common = { ...opts, keep: config.backup.keep };
  return config.postgres.embedded
    ? createBackup({ ...common, pgDataDir: path.join(config.dataDir, 'postgres'), secretsFile: path.join(config.dataDir, 'secrets.json') })
    : createDumpBackup({ ...common, binDir: config.backup.pgBinDir });
}
