/**
 * Named prepared statements for requests, as PostgREST's `db-prepared-statements` (on by
 * default): a statement text gets a name derived from its hash, so each connection parses and
 * plans it once and afterwards only binds and executes it. The text carries no values (they are
 * bind parameters), so one name serves every request of the same shape.
 *
 * Only pools registered here name their statements (db/pool.ts registers the request pool unless
 * DB_PREPARED_STATEMENTS=false, which a transaction-pooling PgBouncer needs: the next transaction
 * may land on a server connection that never saw the Parse). Each connection keeps at most
 * PER_CONNECTION of them; statements past that run unnamed, so no sequence of query shapes grows
 * a backend's memory without bound. Prepared statements outlive a rolled-back transaction, and
 * Postgres replans them itself after DDL or a search_path change.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Connections of registered pools (db/pool.ts), whatever server they are on: the primary or a read replica. */
const preparing = new WeakSet<pg.ClientBase>();
const names = new Map<string, string>();
const named = new WeakMap<pg.ClientBase, Set<string>>();

const MAX_NAMES = 10_000;
export const PER_CONNECTION = 1_000;

/** Requests on `pool` run named statements (see db/pool.ts). */
export function registerPreparedStatements(pool: pg.Pool): void {
  pool.on('connect', (client) => preparing.add(client));
}

/** The name of a statement text: `nm_` and 144 bits of its SHA-256. */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    if (names.size >= MAX_NAMES) names.clear();
    name = `nm_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    names.set(text, name);
  }
  return name;
}

/** `query` as a named prepared statement on `client` when its pool prepares them; else unchanged. */
export function prepared<Q extends { text: string; values?: unknown[] }>(client: pg.ClientBase, query: Q): Q & { name?: string } {
  if (!preparing.has(client)) return query;
  const name = statementName(query.text);
  let mine = named.get(client);
  if (!mine) named.set(client, (mine = new Set()));
  if (!mine.has(name)) {
    if (mine.size >= PER_CONNECTION) return query;
    mine.add(name);
  }
  return { ...query, name };
}
