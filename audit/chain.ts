/**
 * The audit chain's format (version 1, docs/audit.md), recomputed here independently of the SQL
 * that wrote it (sql/0027_audit.sql: audit.canonical, audit.hash_of): an entry's fields as the
 * texts Postgres hashed, and the walk that finds the first entry that does not follow.
 */
import { createHash } from 'node:crypto';

/** An entry as hashed: every field in its canonical text form (NULL as null). */
export interface ChainEntry {
  id: string;
  /** UTC, microseconds: 2026-01-02T03:04:05.678901Z */
  at: string;
  tenant_id: string | null;
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  target: string | null;
  /** The jsonb value as Postgres prints it (jsonb::text). */
  detail: string;
  ip: string | null;
  prev_hash: string;
  hash: string;
}

/** Where the chain starts: the genesis (id 0, 64 zeros) or retention's anchor. */
export interface ChainStart {
  id: number;
  hash: string;
}

export const GENESIS: ChainStart = { id: 0, hash: '0'.repeat(64) };
const PREFIX = 'nextmavens-audit-v1\n';

const field = (v: string | null): string => (v === null ? '-,' : `${Buffer.byteLength(v, 'utf8')}:${v},`);

/** The canonical encoding: each field in order as `<UTF-8 byte length>:<text>,`, NULL as `-,`. */
export function canonical(e: ChainEntry): string {
  return [e.id, e.at, e.tenant_id, e.actor_id, e.actor_role, e.action, e.target, e.detail, e.ip].map(field).join('');
}

/** sha256 (lowercase hex) of 'nextmavens-audit-v1' \n prev_hash \n canonical. */
export function entryHash(e: ChainEntry): string {
  return createHash('sha256').update(`${PREFIX}${e.prev_hash}\n${canonical(e)}`, 'utf8').digest('hex');
}

export type VerifyResult =
  | { ok: true; count: number; start: ChainStart; head: ChainStart }
  | { ok: false; count: number; start: ChainStart; entry: number; problem: string };

/**
 * Walks entries in id order from `start`: ids follow one another, each hash matches its entry and
 * each prev_hash is the hash before it. The first entry that does not is reported.
 */
export async function verifyChain(entries: AsyncIterable<ChainEntry> | Iterable<ChainEntry>, start: ChainStart = GENESIS): Promise<VerifyResult> {
  let expectedId = start.id + 1;
  let prev = start.hash;
  let count = 0;
  for await (const e of entries) {
    const id = Number(e.id);
    const fail = (entry: number, problem: string): VerifyResult => ({ ok: false, count, start, entry, problem });
    if (id > expectedId) {
      return fail(expectedId, id === expectedId + 1
        ? `entry ${expectedId} is missing (deleted): the chain goes from ${expectedId - 1} to ${id}`
        : `entries ${expectedId}..${id - 1} are missing (deleted): the chain goes from ${expectedId - 1} to ${id}`);
    }
    if (id !== expectedId) return fail(id, `entry ${id} is out of place: expected entry ${expectedId}`);
    if (entryHash(e) !== e.hash) return fail(id, `entry ${id} (${e.action} at ${e.at}) was edited: its content does not match its hash`);
    if (e.prev_hash !== prev) {
      return fail(id, `entry ${id} (${e.action} at ${e.at}) does not follow entry ${id - 1}: its prev_hash is not that entry's hash (entry ${id - 1} was rewritten, or entries were inserted, removed or reordered)`);
    }
    prev = e.hash;
    expectedId = id + 1;
    count++;
  }
  return { ok: true, count, start, head: { id: expectedId - 1, hash: prev } };
}

/** One line of an export (JSON lines): the entry as hashed, id as a number. */
export function exportLine(e: ChainEntry): string {
  return JSON.stringify({ ...e, id: Number(e.id) });
}

/** An exported line back as an entry. */
export function parseExportLine(line: string): ChainEntry {
  const o = JSON.parse(line) as ChainEntry & { id: number };
  return { ...o, id: String(o.id) };
}
