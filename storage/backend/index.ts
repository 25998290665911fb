/**
 * The blob backend STORAGE_BACKEND selects (fs.ts by default, s3.ts, telegram.ts), and the contract (types.ts)
 * the rest of the service codes against. The implementations import only types.ts and meter.ts,
 * never this factory.
 */
import path from 'node:path';
import type { Config } from '../../config/load.ts';
import type { StorageBackend } from './types.ts';

export * from './types.ts';

/** The backend STORAGE_BACKEND selects, initialised. */
export async function createBackend(config: Config): Promise<StorageBackend> {
  let backend: StorageBackend;
  if (config.storage.backend === 's3' && config.storage.s3) {
    const { S3Backend } = await import('./s3.ts');
    backend = new S3Backend(config.storage.s3);
  } else if (config.storage.backend === 'telegram' && config.storage.telegram) {
    const { TelegramBackend } = await import('./telegram.ts');
    backend = new TelegramBackend(config.storage.telegram, config.postgres.url);
  } else {
    const { FsBackend } = await import('./fs.ts');
    backend = new FsBackend(path.join(config.dataDir, 'storage'));
  }
  await backend.init();
  // Point-in-time restore: blobs are archived next to the backups before they are deleted.
  if (config.backup.pitr && config.backup.target.kind === 'dir') {
    const { ArchivingBackend, directoryArchive } = await import('./archive.ts');
    backend = new ArchivingBackend(backend, directoryArchive(config.backup.target.dir));
  }
  return backend;
}
