/**
 * A backup's manifest (backups/<id>/manifest.json, see backup/store.ts): what the backup holds,
 * with checksums, and the point it restores to. Written last, so its presence means complete.
 */
import type { ArchivedBlob } from '../storage/backend/archive.ts';
import { readJson } from '../storage/backend/archive.ts';
import type { BackupStore } from './store.ts';

export interface StoredPart {
  file: string;
  /** Bytes as stored (compressed). */
  size: number;
  /** SHA-256 of the stored bytes. */
  sha256: string;
}

export interface BackupManifest {
  format: 1;
  id: string;
  startedAt: string;
  finishedAt: string;
  postgres: { version: string; database: string; systemIdentifier: string };
  base: StoredPart;
  wal: StoredPart & { first: string; last: string };
  /** pg_backup_stop's backup_label and tablespace_map, written into the data directory on restore. */
  backupLabel: string;
  tablespaceMap: string;
  /** The restore point recovery stops at: the database exactly as the rows and objects below. */
  restorePoint: { name: string; lsn: string; time: string };
  /** Exact row counts of every table of the database at the restore point. */
  rows: Record<string, number>;
  /** Every blob the restore point's storage.objects rows reference. */
  objects: ArchivedBlob[];
  storageBackend: string;
  /** Bytes: database (base + WAL, stored) and objects (uncompressed). */
  bytes: { database: number; objects: number; objectsStored: number };
}

export const manifestFile = (id: string) => `backups/${id}/manifest.json`;

/** The ids of complete backups in `store`, oldest first. */
export async function listBackups(store: BackupStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const f of store.list('backups/')) {
    const m = /^backups\/([^/]+)\/manifest\.json$/.exec(f.name);
    if (m) ids.push(m[1]);
  }
  return ids.sort();
}

export function readManifest(store: BackupStore, id: string): Promise<BackupManifest> {
  return readJson<BackupManifest>(store, manifestFile(id));
}

/** A new backup id: the UTC time, sortable (`20261202T031500123Z`). */
export function newBackupId(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace('.', '');
}
