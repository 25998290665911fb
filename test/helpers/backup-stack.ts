/**
 * What the backup tests share: a stack of their own (a base backup copies a whole cluster, so not
 * the test run's shared one) with a fixture pool, the storage backend and a service_role client;
 * the objects as served; an object's SHA-256.
 */
import { createHash } from 'node:crypto';
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
