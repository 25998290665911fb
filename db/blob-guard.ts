/**
 * Backups and blob deletions take turns. A backup (backup/create.ts) copies exactly the blobs its
 * database snapshot's storage.objects rows reference, after the snapshot: a blob deleted in
 * between would be missing from the backup. So every deletion of blobs that rows referenced
 * (storage/context.ts dropBlobs, storage/cleanup.ts) runs under a shared advisory lock it only
 * *tries* to take, and a backup holds the same lock exclusively from before its snapshot until
 * its last blob is copied. While a backup runs, deletions are skipped, leaving orphans that the
 * cleanup job collects once the backup is done (they are no row's blob: nobody sees them).
 */
import type pg from 'pg';

/** The advisory lock key (an arbitrary constant owned by this module). */
export const BLOB_DELETION_LOCK = 7_270_614_170;

/** Runs `fn` unless a backup is running (then returns false without running it). */
export async function withBlobDeletion(pool: pg.Pool, fn: () => Promise<void>): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_xact_lock_shared($1) as ok', [BLOB_DELETION_LOCK]);
    if (!rows[0].ok) {
      await client.query('rollback');
      return false;
    }
    try {
      await fn();
    } finally {
      await client.query('commit').catch(() => undefined);
    }
    return true;
  } finally {
    client.release();
  }
}

/** Holds off blob deletions on `client`'s session until `release` (waits for running ones to finish). */
export async function holdBlobDeletions(client: pg.ClientBase): Promise<{ release(): Promise<void> }> {
  await client.query('select pg_advisory_lock($1)', [BLOB_DELETION_LOCK]);
  return { release: async () => void (await client.query('select pg_advisory_unlock($1)', [BLOB_DELETION_LOCK])) };
}
