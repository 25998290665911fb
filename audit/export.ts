/**
 * Entries as JSON lines (chain.ts exportLine: every field exactly as hashed) in the backup target
 * (BACKUP_TARGET or `--to`, backup/store.ts):
 *
 *   audit/exports/<time>.jsonl              `nextmavens audit export`: the whole stored chain
 *   audit/removed/<first>-<last>.jsonl      retention: each prefix before it is removed (ids zero-padded)
 *
 * Each file's first entry carries the hash before it (prev_hash), so the removed files in name
 * order, then the database, are one chain from the genesis.
 */
import { Readable } from 'node:stream';
import type { BackupStore } from '../backup/store.ts';
import { exportLine } from './chain.ts';
import { anchor, entries, type Db } from './store.ts';

export interface ExportResult {
  name: string;
  count: number;
  first?: number;
  last?: number;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:.]/g, '');
const pad = (n: number) => String(n).padStart(12, '0');

/** Writes the entries with after < id <= through to `name` (atomically: all of it or nothing). */
export async function writeEntries(db: Db, store: BackupStore, name: string, range: { after: number; through?: number }): Promise<ExportResult> {
  const result: ExportResult = { name, count: 0 };
  async function* lines() {
    for await (const e of entries(db, range)) {
      result.first ??= Number(e.id);
      result.last = Number(e.id);
      result.count++;
      yield `${exportLine(e)}\n`;
    }
  }
  await store.write(name, Readable.from(lines()));
  return result;
}

/** `nextmavens audit export`: every stored entry, from the anchor on. */
export async function exportAuditLog(db: Db, store: BackupStore, now = new Date()): Promise<ExportResult> {
  const start = await anchor(db);
  return writeEntries(db, store, `audit/exports/${stamp(now)}.jsonl`, { after: start?.id ?? 0 });
}

/** The name retention gives a removed prefix. */
export const removedFile = (first: number, last: number) => `audit/removed/${pad(first)}-${pad(last)}.jsonl`;
