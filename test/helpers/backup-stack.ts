/**
 * What the backup tests share: a stack of their own (a base backup copies a whole cluster, so not
 * the test run's shared one) with a fixture pool, the storage backend and a service_role client;
 * the objects as served; an object's SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type pg from 'pg';
import pino from 'pino';
import { expect } from 'vitest';
import { startStack, type RunningStack } from '../../cli/stack.ts';
import { loadConfig, type Config } from '../../config/load.ts';
import { blobKey, createBackend, type StorageBackend } from '../../storage/backend/index.ts';
import { fixturePool } from './db.ts';

export interface BackupStack {
  config: Config;
  stack: RunningStack;
  admin: SupabaseClient;
  pool: pg.Pool;
  backend: StorageBackend;
  close(): Promise<void>;
}

export async function startBackupStack(env: Record<string, string>): Promise<BackupStack> {
  const config = await loadConfig(env);
  const stack = await startStack(config, pino({ level: 'silent' }));
  const pool = fixturePool(config.postgres.url, 3);
  const backend = await createBackend(config);
  return {
    config,
    stack,
    pool,
    backend,
    admin: createClient(stack.url, config.serviceRoleKey, { auth: { persistSession: false } }),
    async close() {
      backend.close?.();
      await pool.end();
      await stack.close();
    },
  };
}

const md5 = (b: Buffer) => `"${createHash('md5').update(b).digest('hex')}"`;
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every storage.objects row's bytes as served, checked against the row's ETag; the keys sorted. */
export async function servedObjects(r: BackupStack): Promise<string[]> {
  const { rows } = await r.pool.query<{ bucket_id: string; name: string; version: string; metadata: { eTag: string } }>('select bucket_id, name, version, metadata from storage.objects order by 1, 2');
  for (const row of rows) {
    const { data, error } = await r.admin.storage.from(row.bucket_id).download(row.name);
    expect(error, row.name).toBeNull();
    expect(md5(Buffer.from(await data!.arrayBuffer())), row.name).toBe(row.metadata.eTag);
  }
  return rows.map(blobKey).sort();
}

/** The SHA-256 of `name` in bucket `files` as served, or null when it is not there. */
export async function servedHash(admin: SupabaseClient, name: string): Promise<string | null> {
  const { data, error } = await admin.storage.from('files').download(name);
  return error ? null : sha256(Buffer.from(await data!.arrayBuffer()));
}

/** The backup tests' data: 500 notes anon may read, a bucket `files` with 20 seed objects. */
export async function seedNotesAndFiles(s: BackupStack): Promise<void> {
  await s.pool.query(`create table public.notes (id serial primary key, body text not null); insert into public.notes (body) select 'note ' || g from generate_series(1, 500) g;
                      alter table public.notes enable row level security; create policy "read" on public.notes for select to anon using (true);`);
  expect((await s.admin.storage.createBucket('files')).error).toBeNull();
  for (let i = 0; i < 20; i++) expect((await s.admin.storage.from('files').upload(`seed/${i}.bin`, randomBytes(5000 + i))).error).toBeNull();
}

/**
 * Runs `backup` while uploads, overwrites (whose old blobs are deleted), deletes and inserts go on,
 * from their third round to the backup's end; the backup's result and how many rounds ran.
 */
export async function duringChurn<T>(s: BackupStack, backup: () => Promise<T>): Promise<{ result: T; writes: number }> {
  let stop = false;
  let writes = 0;
  const churn = (async () => {
    for (let i = 0; !stop; i++) {
      const files = s.admin.storage.from('files');
      await files.upload(`live/${i}.bin`, randomBytes(20_000));
      await files.upload(`seed/${i % 20}.bin`, randomBytes(3000), { upsert: true }); // the old version's blob is deleted
      if (i % 3 === 0) await files.remove([`live/${i - 1}.bin`]);
      await s.pool.query(`insert into public.notes (body) values ('during backup')`);
      writes++;
    }
  })();
  let result: T;
  try {
    while (writes < 3) await new Promise((r) => setTimeout(r, 20));
    result = await backup();
  } finally {
    stop = true;
    await churn;
  }
  return { result, writes };
}

/**
 * The point-in-time tests' history: a bucket `files` with `seed.bin`; `backup` runs; then a table
 * `ledger` and objects are made and the time T noted; then the mistakes — the table dropped,
 * objects deleted, replaced and added — and the WAL past T is in `walArchive`. What each object
 * name held at T (null: absent) comes back with T.
 */
export async function historyAroundT(s: BackupStack, backup: () => Promise<void>, walArchive: string): Promise<{ T: Date; atT: Record<string, string | null> }> {
  const files = () => s.admin.storage.from('files');
  expect((await s.admin.storage.createBucket('files')).error).toBeNull();
  const seed = randomBytes(3000);
  await files().upload('seed.bin', seed);
  await backup();

  await s.pool.query(`create table public.ledger (id int primary key, amount int); insert into public.ledger select g, g * 10 from generate_series(1, 100) g`);
  const n1 = randomBytes(7000);
  const n2 = randomBytes(9000);
  const v1 = randomBytes(2000);
  await files().upload('n1.bin', n1);
  await files().upload('n2.bin', n2);
  await files().upload('replaced.bin', v1);
  const atT = { 'seed.bin': sha256(seed), 'n1.bin': sha256(n1), 'n2.bin': sha256(n2), 'replaced.bin': sha256(v1), 'later.bin': null };
  await new Promise((r) => setTimeout(r, 300));
  const T = (await s.pool.query<{ t: Date }>('select clock_timestamp() as t')).rows[0].t;
  await new Promise((r) => setTimeout(r, 1200));

  await s.pool.query('drop table public.ledger');
  expect((await files().remove(['seed.bin', 'n1.bin'])).error).toBeNull();
  expect((await files().upload('replaced.bin', randomBytes(2500), { upsert: true })).error).toBeNull();
  expect((await files().upload('later.bin', randomBytes(100))).error).toBeNull();
  // The WAL past T reaches the archive (archive_timeout would do it within a minute).
  const { rows } = await s.pool.query<{ wal: string }>(`select pg_walfile_name(pg_switch_wal()) as wal`);
  for (let i = 0; i < 200; i++) {
    if ((await readdir(walArchive).catch(() => [] as string[])).includes(rows[0].wal)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await readdir(walArchive)).toContain(rows[0].wal);
  return { T, atT };
}

/** The ledger and the objects exactly as `historyAroundT` had them at T. */
export async function expectAsAtT(s: BackupStack, atT: Record<string, string | null>): Promise<void> {
  const ledger = await s.pool.query<{ n: string; total: string }>('select count(*) as n, sum(amount) as total from public.ledger');
  expect(ledger.rows[0]).toEqual({ n: '100', total: String(10 * 5050) });
  for (const [name, hash] of Object.entries(atT)) expect(await servedHash(s.admin, name), name).toBe(hash);
}

/**
 * A stack started on a restored backup serves what `manifest` says: the notes (as anon, through
 * REST), every object's bytes, and exactly the rows' blobs in its backend. The anon client, for more.
 */
export async function expectServesBackup(b: BackupStack, manifest: { rows: Record<string, number>; objects: { key: string }[] }): Promise<SupabaseClient> {
  const anon = createClient(b.stack.url, b.config.anonKey, { auth: { persistSession: false } });
  const { count } = await anon.from('notes').select('*', { count: 'exact', head: true });
  expect(count).toBe(manifest.rows['public.notes']);
  const keys = await servedObjects(b);
  expect(keys).toEqual(manifest.objects.map((o) => o.key).sort());
  const stored: string[] = [];
  for await (const blob of b.backend.list()) stored.push(blob.key);
  expect(stored.sort()).toEqual(keys); // exactly the rows' blobs, no more
  return anon;
}
