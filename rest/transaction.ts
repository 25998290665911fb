/**
 * Stage 4: one transaction as the caller (db/request-context.ts: role, request.jwt.claims and
 * PostgREST's request GUCs set transaction-locally) running the count and the main statement, and
 * the checks that must roll the transaction back (PostgREST fails these inside it: a singular
 * response that is not one row, more rows than `max-affected`).
 */
import type pg from 'pg';
import { prepared } from '../db/prepared.ts';
import { ReadPools } from '../db/read-pools.ts';
import { withRequestContext } from '../db/request-context.ts';
import { headerValue, type RequestInfo } from './api-request.ts';
import type { Preferences } from './ast.ts';
import { ERRORS, toRestError } from './errors.ts';
import type { ResponseMedia } from './media.ts';
import type { CallPlan } from './plan/call.ts';
import type { MutatePlan } from './plan/mutate.ts';
import type { ReadPlan } from './plan/read.ts';
import { ident } from './sql.ts';
import type { ResultRow, Statement, Statements } from './query/statement.ts';

export type ExecutedPlan = ReadPlan | MutatePlan | CallPlan;

function requestGucs(api: RequestInfo, path: string) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(api.req.headers)) if (k !== 'cookie' && v !== undefined) headers[k] = headerValue(v)!;
  const cookies: Record<string, string> = {};
  for (const part of (headerValue(api.req.headers.cookie) ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return { method: api.req.method, path, headers, cookies };
}

/**
 * Runs `fn` in a transaction as the caller with PostgREST's GUCs. Errors roll back and are
 * mapped to RestErrors with the caller's role deciding 401 vs 403.
 */
export async function inTransaction<T>(pool: pg.Pool | ReadPools, api: RequestInfo, readOnly: boolean, fn: (client: pg.PoolClient) => Promise<T>, singleQuery = false): Promise<T> {
  // PostgREST: the request's schema, then db-extra-search-path — Supabase's is `public, extensions`.
  const settings: Record<string, string> = { search_path: `${ident(api.schema)}, "public", "extensions"` };
  if (api.prefs.timezone) settings.timezone = api.prefs.timezone;
  const path = api.req.path.split('?')[0];
  const run = (on: pg.Pool) =>
    withRequestContext(on, api.caller.claims, fn, { readOnly, request: requestGucs(api, path), settings, rollback: api.prefs.tx === 'rollback', singleQuery });
  try {
    return await (pool instanceof ReadPools ? pool.run(api.req.headers, run) : run(pool));
  } catch (err) {
    throw toRestError(err, api.caller.role !== 'anon');
  }
}

/**
 * Counts as `Prefer: count=` asks, as PostgREST does: exact via count(*), planned via EXPLAIN;
 * estimated counts exactly up to `maxRows` (db-max-rows) and, beyond it, takes the planner's
 * estimate when that is higher (without maxRows: the higher of the two, always).
 */
async function countRows(client: pg.PoolClient, prefs: Preferences, count: Statement, maxRows?: number): Promise<number | undefined> {
  if (!prefs.count) return undefined;
  const planned = async () => {
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`explain (format json) ${count.sql}`, count.values);
    return rows[0]['QUERY PLAN'][0].Plan['Plan Rows'];
  };
  if (prefs.count === 'planned') return planned();
  const limited = prefs.count === 'estimated' && maxRows !== undefined ? ` limit ${Number(maxRows) + 1}` : '';
  const { rows } = await client.query<{ n: string }>(`select count(*) as n from (${count.sql}${limited}) as pgrst_count`, count.values);
  const exact = Number(rows[0].n);
  if (prefs.count === 'exact' || (maxRows !== undefined && exact <= maxRows)) return exact;
  return Math.max(exact, await planned());
}

/** The checks of a plan over its result row, inside the transaction. */
function checkResult(plan: ExecutedPlan, row: ResultRow): void {
  const n = Number(row.page_total);
  const singular = plan.kind === 'read' ? plan.media.kind === 'object' : plan.singular;
  if (singular && n !== 1) throw ERRORS.singular(n);
  if (plan.kind === 'read' || plan.maxAffected === undefined) return;
  if (plan.kind === 'call' && !plan.fn.returnsSet) throw ERRORS.maxAffectedScalar();
  if (n > plan.maxAffected) throw ERRORS.maxAffected(n);
}

const readOnlyOf = (plan: ExecutedPlan) => (plan.kind === 'read' ? true : plan.kind === 'call' ? plan.readOnly : false);

/** Must the transaction stay open until checkResult has seen the row (a write it may refuse)? */
const checkedBeforeCommit = (plan: ExecutedPlan) => !readOnlyOf(plan) && plan.kind !== 'read' && (plan.singular || plan.maxAffected !== undefined);

/**
 * May this run on a read replica (db/read-pools.ts)? GET and HEAD reads, and GET/HEAD calls of
 * functions that are not volatile: PostgREST runs every GET read-only, but a volatile function
 * is one that may write or must see the primary's latest state (nextval, now() of a write).
 */
const replicaReadable = (api: RequestInfo, plan: ExecutedPlan) =>
  (api.req.method === 'GET' || api.req.method === 'HEAD') && (plan.kind === 'read' || (plan.kind === 'call' && plan.fn.volatility !== 'volatile'));

/** The pool of a plan: the read pools for what a replica may serve, else the primary's request pool. */
export const poolFor = (pools: { pool: pg.Pool; reads?: ReadPools }, api: RequestInfo, plan: ExecutedPlan): pg.Pool | ReadPools =>
  pools.reads?.enabled && replicaReadable(api, plan) ? pools.reads : pools.pool;

/** Runs a plan's statements; the main statement's row and the count (when asked). */
export async function execute(pool: pg.Pool | ReadPools, api: RequestInfo, plan: ExecutedPlan, statements: Statements): Promise<{ row: ResultRow; total?: number }> {
  const { main, count } = statements;
  const readOnly = readOnlyOf(plan);
  return inTransaction(pool, api, readOnly, async (client) => {
    const total = count ? await countRows(client, api.prefs, count, count.maxRows) : undefined;
    const { rows } = await client.query<ResultRow>(prepared(client, { text: main.sql, values: main.values }));
    checkResult(plan, rows[0]);
    return { row: rows[0], total };
  }, !count && !checkedBeforeCommit(plan));
}

/** Text results (EXPLAIN's json column included) as Postgres sent them. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

/**
 * EXPLAIN of the statement that would have built the body (db-plan-enabled), in the transaction
 * the request would have run in (with `analyze` the statement runs — a write is committed unless
 * tx=rollback, as in PostgREST). One line of text per row of EXPLAIN's output.
 */
export async function explain(pool: pg.Pool | ReadPools, api: RequestInfo, plan: ExecutedPlan, media: ResponseMedia, main: Statement): Promise<string[]> {
  const options = [`format ${media.plan!.format}`, ...media.plan!.options].join(', ');
  return inTransaction(pool, api, readOnlyOf(plan), async (client) => {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>({ text: `explain (${options}) ${main.sql}`, values: main.values, types: RAW_TEXT });
    return rows.map((r) => r['QUERY PLAN']);
  });
}
