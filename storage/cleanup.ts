/**
 * Reconciles the blob backend with storage.objects, the source of truth. Blobs are written
 * before a row names them and deleted after no row does, so a crash, an aborted request or a
 * failed delete can only leave extra bytes behind, never a row without bytes. This job deletes
 * those extras: committed blobs no row references (by bucket, name and version) and unfinished
 * staged writes, each only once older than a grace period so in-flight requests are never touched.
 * The storage service runs it at start and then every STORAGE_CLEANUP_INTERVAL seconds. No blob
 * is deleted while a backup runs (db/blob-guard.ts).
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { withBlobDeletion } from '../db/blob-guard.ts';
import { parseBlobKey, type StorageBackend } from './backend/index.ts';
import { StorageDb } from './db.ts';

export interface CleanupOptions {
  /** Only blobs and staged writes untouched for this long are removed (default one hour). */
  graceMs?: number;
  log?: Logger;
}

export interface CleanupReport {
  /** Committed blobs looked at. */
  scanned: number;
  /** Blobs no row references, deleted. */
  orphanBlobs: number;
  /** Unfinished staged writes, removed. */
  staleStaged: number;
  /** Keys not in the service's layout, left alone. */
  foreign: number;
}

export const DEFAULT_GRACE_MS = 60 * 60 * 1000;
const BATCH = 500;

export async function cleanupStorage(backend: StorageBackend, pool: pg.Pool, opts: CleanupOptions = {}): Promise<CleanupReport> {
  const cutoff = Date.now() - (opts.graceMs ?? DEFAULT_GRACE_MS);
  const report: CleanupReport = { scanned: 0, orphanBlobs: 0, staleStaged: 0, foreign: 0 };
  const db = new StorageDb(pool);

  let batch: { key: string; bucket_id: string; name: string; version: string }[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const current = batch;
    batch = [];
    const orphans = (await db.unreferenced(current)).map((i) => current[i - 1].key);
    // Not while a backup copies blobs (db/blob-guard.ts): the next run collects them.
    if (orphans.length && (await withBlobDeletion(pool, () => backend.delete(orphans)))) report.orphanBlobs += orphans.length;
  };

  for await (const blob of backend.list()) {
    report.scanned++;
    if (blob.lastModified.getTime() > cutoff) continue;
    const parsed = parseBlobKey(blob.key);
    if (!parsed) {
      report.foreign++;
      continue;
    }
    batch.push({ key: blob.key, ...parsed });
    if (batch.length >= BATCH) await flush();
  }
  await flush();

  const stale: string[] = [];
  for await (const s of backend.listStaged()) if (s.lastModified.getTime() <= cutoff) stale.push(s.id);
  for (const id of stale) {
    await backend.removeStaged(id);
    report.staleStaged++;
  }
  if (report.orphanBlobs || report.staleStaged) opts.log?.info({ ...report }, 'storage cleanup removed leftovers');
  return report;
}

/** Runs the cleanup now and every `intervalSeconds` (0: never) until stopped; failures are logged. */
export function startCleanupJob(backend: StorageBackend, pool: pg.Pool, intervalSeconds: number, log: Logger): { stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { stop: async () => undefined };
  let running: Promise<unknown> | undefined;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = cleanupStorage(backend, pool, { log })
      .catch((err) => log.warn({ err }, 'storage cleanup failed'))
      .finally(() => (running = undefined));
  };
  const first = setTimeout(run, 0);
  const timer = setInterval(run, intervalSeconds * 1000);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
