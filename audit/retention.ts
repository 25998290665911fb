/**
 * Retention (AUDIT_RETENTION_DAYS): the entries written before the cut-off are checked, exported
 * to the backup target (export.ts, audit/removed/) and only then removed by audit.prune(), which
 * keeps the hash of the last removed entry as the chain's anchor.
 */
import type { BackupStore } from '../backup/store.ts';
import { verifyChain, GENESIS } from './chain.ts';
import { removedFile, writeEntries, type ExportResult } from './export.ts';
import { anchor, entries, lastEntryBefore, prune, type Db } from './store.ts';

export interface RetentionResult extends ExportResult {
  removed: number;
}

/** Exports then removes the entries written before `before`; undefined when there are none. */
export async function removeExpired(db: Db, store: BackupStore, before: Date): Promise<RetentionResult | undefined> {
  const through = await lastEntryBefore(db, before);
  if (through === undefined) return undefined;
  const start = (await anchor(db)) ?? GENESIS;
  // A broken prefix is not blessed by an anchor: it stays for `audit verify` to report.
  const check = await verifyChain(entries(db, { after: start.id, through }), start);
  if (!check.ok) throw new Error(`audit retention refused: the chain is broken at entry ${check.entry}: ${check.problem}`);
  const exported = await writeEntries(db, store, removedFile(start.id + 1, through), { after: start.id, through });
  return { ...exported, removed: await prune(db, through) };
}

/** The cut-off of AUDIT_RETENTION_DAYS at `now`. */
export const retentionCutoff = (days: number, now = new Date()) => new Date(now.getTime() - days * 86_400_000);
