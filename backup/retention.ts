/**
 * BACKUP_KEEP: after each backup, the oldest complete backups beyond the newest `keep` are deleted,
 * then what only they needed: object files no kept manifest lists that were archived before the
 * oldest kept backup began (newer ones may be a point-in-time restore's deleted objects), and
 * archived WAL older than the oldest kept backup's first segment.
 */
import { isDump, listBackups, readManifest } from './manifest.ts';
import type { BackupStore } from './store.ts';

export async function applyRetention(store: BackupStore, keep: number): Promise<{ backups: string[]; blobs: number; wal: number }> {
  const ids = await listBackups(store);
  const doomed = ids.slice(0, Math.max(0, ids.length - keep));
  if (!doomed.length) return { backups: [], blobs: 0, wal: 0 };
  const kept = await Promise.all(ids.slice(doomed.length).map((id) => readManifest(store, id)));
  for (const id of doomed) {
    // The manifest first: a half-deleted backup is never taken for a complete one.
    await store.remove([`backups/${id}/manifest.json`]);
    const files: string[] = [];
    for await (const f of store.list(`backups/${id}/`)) files.push(f.name);
    await store.remove(files);
  }
  const oldest = kept[0];
  const since = new Date(oldest.startedAt).getTime();
  const needed = new Set(kept.flatMap((m) => m.objects.map((o) => o.file.replace(/\.zst$/, ''))));
  const blobs: string[] = [];
  for await (const f of store.list('blobs/')) {
    if (!needed.has(f.name.replace(/\.(zst|json)$/, '')) && f.lastModified.getTime() < since) blobs.push(f.name);
  }
  await store.remove(blobs);
  // Archived WAL (BACKUP_PITR) starts from a base backup; a dump needs none.
  const firstWal = kept.flatMap((m) => (isDump(m) ? [] : [m.wal.first]))[0];
  const wal: string[] = [];
  for await (const f of firstWal ? store.list('wal/') : []) {
    const name = f.name.slice('wal/'.length);
    if (/^[0-9A-F]{24}$/.test(name) && name < firstWal!) wal.push(f.name);
  }
  await store.remove(wal);
  return { backups: doomed, blobs: blobs.length, wal: wal.length };
}
