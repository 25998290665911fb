/**
 * `nextmavens audit verify`: recomputes the stored chain from its start (retention's anchor, else
 * the genesis) to its head and names the first entry that does not follow.
 */
import { GENESIS, verifyChain, type VerifyResult } from './chain.ts';
import { anchor, entries, type Db } from './store.ts';

export async function verifyAuditLog(db: Db): Promise<VerifyResult> {
  const start = (await anchor(db)) ?? GENESIS;
  return verifyChain(entries(db, { after: start.id }), { id: start.id, hash: start.hash });
}

/** The result as `nextmavens audit verify` prints it. */
export function describeVerification(r: VerifyResult): string {
  const from = r.start.id === 0 ? 'from the start' : `from the anchor after entry ${r.start.id} (${r.start.hash})`;
  if (r.ok) return `audit log OK: ${r.count} entries verified ${from}; head ${r.head.id} ${r.head.hash}`;
  return `audit log BROKEN at entry ${r.entry}: ${r.problem} (${r.count} entries verified ${from} before it)`;
}
