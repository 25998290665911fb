/**
 * Where backups live (BACKUP_TARGET or `--to`): a directory, a prefix of an S3 bucket
 * (BACKUP_S3_*), or a Telegram channel (backup/telegram-store.ts). All hold the same files:
 *
 *   backups/<id>/manifest.json   written last: a backup without one is unfinished
 *   backups/<id>/base.tar.zst    the Postgres data directory (a base backup)
 *   backups/<id>/wal.tar.zst     the WAL from the backup's start to its restore point
 *   backups/<id>/database.dump.zst  instead of both, for an external Postgres: pg_dump's custom format (backup/dump.ts)
 *   backups/<id>/verified.json   the last `backup verify` of it
 *   blobs/…                      the objects, shared by every backup (storage/backend/archive.ts)
 *   wal/…                        BACKUP_PITR: Postgres's archive_command copies WAL here (directories only)
 *   audit/…                      the audit log's exports and removed prefixes (audit/export.ts)
 */
import { opendir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BackupTarget } from '../config/load.ts';
import { directoryArchive, type BlobArchive } from '../storage/backend/archive.ts';
import { telegramStore } from './telegram-store.ts';

export interface StoredFile {
  name: string;
  size: number;
  lastModified: Date;
}

export interface BackupStore extends BlobArchive {
  /** The target as printed: a directory path or s3://bucket/prefix. */
  readonly location: string;
  /** The local directory of a directory target. */
  readonly dir?: string;
  /** Every file whose name starts with `prefix`. */
  list(prefix: string): AsyncIterable<StoredFile>;
  remove(names: string[]): Promise<void>;
  /** Releases the connection; a Telegram target first writes what its catalog lacks. */
  close(): void | Promise<void>;
}

export async function openStore(target: BackupTarget): Promise<BackupStore> {
  if (target.kind === 'telegram') return telegramStore(target);
  return target.kind === 'dir' ? dirStore(target.dir) : await s3Store(target);
}

function dirStore(dir: string): BackupStore {
  const archive = directoryArchive(dir);
  async function* walk(sub: string): AsyncIterable<StoredFile> {
    let entries;
    try {
      entries = await opendir(path.join(dir, sub));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for await (const e of entries) {
      const name = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) yield* walk(name);
      else if (e.isFile() && !e.name.endsWith('.tmp')) {
        const s = await stat(path.join(dir, name)).catch(() => null);
        if (s) yield { name, size: s.size, lastModified: s.mtime };
      }
    }
  }
  return {
    ...archive,
    location: dir,
    dir,
    async *list(prefix) {
      // Walk only the folder the prefix names.
      const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      for await (const f of walk(folder)) if (f.name.startsWith(prefix)) yield f;
    },
    async remove(names) {
      for (const n of names) {
        await rm(archive.path(n), { force: true });
        // Prune the folders left empty (up to the target's own).
        for (let d = path.dirname(archive.path(n)); d.startsWith(dir + path.sep); d = path.dirname(d)) if (!(await rmdir(d).then(() => true, () => false))) break;
      }
    },
    close: () => undefined,
  };
}

async function s3Store(t: Extract<BackupTarget, { kind: 's3' }>): Promise<BackupStore> {
  // The storage's S3 backend does the streaming multipart uploads (minio's own putObject needs
  // ListMultipartUploads, which not every S3-compatible server has). Loaded only for an S3
  // target: minio is ~20 MiB resident (as in storage/backend/index.ts).
  const { S3Backend } = await import('../storage/backend/s3.ts');
  const s3 = new S3Backend({ endpoint: t.endpoint, region: t.region, accessKey: t.accessKey, secretKey: t.secretKey, bucket: t.bucket, forcePathStyle: t.forcePathStyle });
  await s3.init();
  const prefix = t.prefix ? `${t.prefix}/` : '';
  return {
    location: `s3://${t.bucket}${t.prefix ? `/${t.prefix}` : ''}`,
    exists: async (name) => (await s3.head(prefix + name)) !== null,
    write: async (name, body) => void (await s3.put(prefix + name, body, { maxBytes: Infinity })),
    read: (name) => s3.get(prefix + name),
    async *list(p) {
      for await (const o of s3.list()) if (o.key.startsWith(prefix + p)) yield { name: o.key.slice(prefix.length), size: o.size, lastModified: o.lastModified };
    },
    remove: (names) => s3.delete(names.map((n) => prefix + n)),
    close: () => s3.close(),
  };
}
