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

interface ManifestCommon {
  format: 1;
  id: string;
  startedAt: string;
  finishedAt: string;
  postgres: { version: string; database: string; systemIdentifier: string };
  /**
   * The moment the backup is of: the database exactly as the rows and objects below. A base
   * backup's is a named restore point that recovery stops at; a dump's is its exported snapshot.
   */
  restorePoint: { name: string; lsn: string; time: string };
  /** Exact row counts of every table of the database at the restore point. */
  rows: Record<string, number>;
  /** Every blob the restore point's storage.objects rows reference. */
  objects: ArchivedBlob[];
  storageBackend: string;
  /** Bytes: database (base + WAL, or the dump; stored) and objects (uncompressed). */
  bytes: { database: number; objects: number; objectsStored: number };
}

/** A base backup of the embedded cluster (backup/create.ts): its data directory and WAL. */
export interface BaseManifest extends ManifestCommon {
  /** Absent in the manifests written before dumps existed. */
  kind?: 'base';
  base: StoredPart;
  wal: StoredPart & { first: string; last: string };
  /** pg_backup_stop's backup_label and tablespace_map, written into the data directory on restore. */
  backupLabel: string;
  tablespaceMap: string;
}

/** A role the dump's objects name (owners, grants), made on restore where it is missing. */
export interface DumpedRole {
  name: string;
  /** CREATE ROLE options: LOGIN, REPLICATION, BYPASSRLS, … (never a password). */
  options: string[];
  /** Roles this one is a member of. */
  memberOf: string[];
}

/** A logical dump of an external Postgres (backup/dump.ts): pg_dump's custom format, zstd. */
export interface DumpManifest extends ManifestCommon {
  kind: 'dump';
  dump: StoredPart;
  /** `pg_dump --version` of the tool that wrote it. */
  pgDump: string;
  roles: DumpedRole[];
}

export type BackupManifest = BaseManifest | DumpManifest;

export const isDump = (m: BackupManifest): m is DumpManifest => m.kind === 'dump';

/** A restore that would lose data or cannot work here; the message says why and what to do. */
export class RestoreRefused extends Error {}

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
