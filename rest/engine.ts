/**
 * The REST engine: one HTTP request in, one response out, PostgREST v13 semantics.
 * parse (rest/parse/*) → plan against the model (query-builder, relationships) → one
 * transaction as the caller (db/request-context) running one main statement that builds the
 * body in Postgres → status and headers (Content-Range, Location, Preference-Applied, …).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type pg from 'pg';
import { withRequestContext } from '../db/request-context.ts';
import type { JwtVerifier } from '../core/jwt.ts';
import type { ParsedQuery, Preferences, SelectItem } from './ast.ts';
import { authenticate, type RestCaller } from './auth.ts';
import { ERRORS, RestError, toRestError } from './errors.ts';
import { bodyAggregate, isPlanType, negotiate, type ResponseMedia } from './media.ts';
import type { Relation, RestModel } from './model.ts';
import { parseAccept, parsePrefer, parseRange } from './parse/headers.ts';
import { parseQuery } from './parse/query.ts';
import { parsePayload, type Payload } from './payload.ts';
import { capRows, QueryBuilder, selectStatement } from './query-builder.ts';
import { suggestName } from './relationships.ts';
import { callFunction, rpcOptions } from './rpc.ts';
import { ident, Params, qualified } from './sql.ts';

export interface RestRequest {
  method: string;
  /** Path below the REST root, e.g. `/todos` or `/rpc/f` (percent-encoded as received). */
  path: string;
  /** Query string without `?`. */
  search: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

export interface RestResponse {
  status: number;
  /** A reason phrase other than the standard one. */
  statusText?: string;
  headers: Record<string, string | string[]>;
  body?: string;
}

export interface RestEngineOptions {
  pool: pg.Pool;
  verifier: JwtVerifier;
  /** Exposed schemas; the first is the default. */
  schemas: string[];
  /** The current model, or undefined while the schema cache is loading. */
  model(): RestModel | undefined;
  /** `REST_MAX_ROWS` (PostgREST's db-max-rows): the most rows any read returns, per embed too. */
  maxRows?: number;
  /** `REST_DB_PLAN_ENABLED` (db-plan-enabled): `Accept: application/vnd.pgrst.plan…` answers EXPLAIN. */
  planEnabled?: boolean;
}

/** Everything a handler needs about the request once routing, auth and negotiation are done. */
export interface RestContext {
  opts: RestEngineOptions;
  model: RestModel;
  req: RestRequest;
  caller: RestCaller;
  schema: string;
  prefs: Preferences;
  accept: ReturnType<typeof parseAccept>;
  /** Extra response headers (Content-Profile). */
  headers: Record<string, string>;
}

/** Row of every main statement: the body and what the response headers are made from. */
export interface ResultRow {
  total: string | null;
  page_total: string;
  body: string | null;
  response_headers: string | null;
  response_status: string | null;
  pgrst_location?: string | null;
  pgrst_inserted?: string | null;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const READ_METHODS = new Set(['GET', 'HEAD']);

/** An IANA time zone name Postgres knows too (an unknown `Prefer: timezone` is ignored). */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return /^[A-Za-z0-9_+\-/]+$/.test(name);
  } catch {
    return false;
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h.join(', ') : h;
}

function requestInfo(req: RestRequest, path: string) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (k !== 'cookie' && v !== undefined) headers[k] = headerValue(v)!;
  const cookies: Record<string, string> = {};
  for (const part of (headerValue(req.headers.cookie) ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return { method: req.method, path, headers, cookies };
}

/**
 * Runs `fn` in a transaction as the caller with PostgREST's GUCs. Errors roll back and are
 * mapped to RestErrors with the caller's role deciding 401 vs 403.
 */
export async function inTransaction<T>(ctx: RestContext, readOnly: boolean, fn: (client: pg.PoolClient) => Promise<T>, singleQuery = false): Promise<T> {
  const settings: Record<string, string> = { search_path: `${ident(ctx.schema)}, "extensions", "public"` };
  if (ctx.prefs.timezone) settings.timezone = ctx.prefs.timezone;
  const path = ctx.req.path.split('?')[0];
  try {
    return await withRequestContext(ctx.opts.pool, ctx.caller.claims, fn, {
      readOnly,
      request: requestInfo(ctx.req, path),
      settings,
      rollback: ctx.prefs.tx === 'rollback',
      singleQuery,
    });
  } catch (err) {
    throw toRestError(err, ctx.caller.role !== 'anon');
  }
}

/** response.headers / response.status GUCs set by the SQL (§4). */
export function applyResponseGucs(row: ResultRow, status: number, headers: Record<string, string | string[]>): number {
  if (row.response_headers) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.response_headers);
    } catch {
      throw ERRORS.responseHeaders();
    }
    if (!Array.isArray(parsed)) throw ERRORS.responseHeaders();
    const added: Record<string, string[]> = {};
    for (const entry of parsed) {
      const keys = entry && typeof entry === 'object' ? Object.keys(entry) : [];
      if (keys.length !== 1 || typeof entry[keys[0]] !== 'string') throw ERRORS.responseHeaders();
      (added[keys[0]] ??= []).push(entry[keys[0]]);
    }
    for (const [name, values] of Object.entries(added)) {
      for (const existing of Object.keys(headers)) if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
      headers[name] = values.length === 1 ? values[0] : values;
    }
  }
  if (row.response_status) {
    const n = Number(row.response_status);
    if (!Number.isInteger(n) || n < 100 || n > 599) throw ERRORS.responseStatus();
    return n;
  }
  return status;
}

/** The `Preference-Applied` header, in PostgREST's order, from the applied subset (§2.1). */
export function preferenceApplied(prefs: Preferences, applied: (keyof Preferences)[]): Record<string, string> {
  const order: (keyof Preferences)[] = ['resolution', 'missing', 'return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'];
  const parts: string[] = [];
  for (const key of order) {
    if (!applied.includes(key) || prefs[key] === undefined) continue;
    if (key === 'maxAffected') {
      if (prefs.handling === 'strict') parts.push(`max-affected=${prefs.maxAffected}`);
    } else parts.push(`${key}=${prefs[key]}`);
  }
  return parts.length ? { 'Preference-Applied': parts.join(', ') } : {};
}

function contentRange(first: number, rows: number, total: number | undefined): string {
  const t = total === undefined ? '*' : String(total);
  return rows > 0 ? `${first}-${first + rows - 1}/${t}` : `*/${t}`;
}

/** Canonical query for Content-Location: params sorted by key (§1.2). */
function canonicalLocation(path: string, search: string): string {
  const params = [...new URLSearchParams(search)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const q = new URLSearchParams(params).toString();
  return q ? `${path}?${q}` : path;
}

function findRelation(ctx: RestContext, name: string): Relation {
  const rel = ctx.model.relation(ctx.schema, name);
  if (rel) return rel;
  const hint = suggestName(name, ctx.model.relations(ctx.schema).map((r) => r.name));
  throw ERRORS.noTable(`${ctx.schema}.${name}`, hint ? `${ctx.schema}.${hint}` : undefined);
}

/**
 * Counts as `Prefer: count=` asks, as PostgREST does: exact via count(*), planned via EXPLAIN;
 * estimated counts exactly up to `maxRows` (db-max-rows) and, beyond it, takes the planner's
 * estimate when that is higher (without maxRows: the higher of the two, always).
 */
export async function countRows(client: pg.PoolClient, prefs: Preferences, countSql: string, values: unknown[], maxRows?: number): Promise<number | undefined> {
  if (!prefs.count) return undefined;
  const planned = async () => {
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`explain (format json) ${countSql}`, values);
    return rows[0]['QUERY PLAN'][0].Plan['Plan Rows'];
  };
  if (prefs.count === 'planned') return planned();
  const limited = prefs.count === 'estimated' && maxRows !== undefined ? ` limit ${Number(maxRows) + 1}` : '';
  const { rows } = await client.query<{ n: string }>(`select count(*) as n from (${countSql}${limited}) as pgrst_count`, values);
  const exact = Number(rows[0].n);
  if (prefs.count === 'exact' || (maxRows !== undefined && exact <= maxRows)) return exact;
  return Math.max(exact, await planned());
}

export const RESULT_COLUMNS = `nullif(current_setting('response.headers', true), '') as response_headers,
  nullif(current_setting('response.status', true), '') as response_status`;

// ------------------------------------------------------------------------------------ reads

/** `select 1 from rel <joins that filter> where <root filters>`, with its own parameters. */
function countStatement(ctx: RestContext, rel: Relation, query: ParsedQuery): { sql: string; values: unknown[] } {
  const params = new Params();
  const parts = new QueryBuilder(ctx.model, params, query).build(rel, rel.name, { columns: false, order: false });
  const from = `${qualified(rel.schema, rel.name)} as ${ident(rel.name)}`;
  const sql = selectStatement(from, { ...parts, columns: ['1'] }, params, { limit: undefined, offset: 0 });
  return { sql, values: params.values };
}

/** Text results (EXPLAIN's json column included) as Postgres sent them. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

/**
 * The answer to a plan request (db-plan-enabled, `Accept: application/vnd.pgrst.plan…`): Postgres's
 * EXPLAIN of the statement that would have built the body, in the transaction the request would
 * have run in (with `analyze` the statement runs — a write is committed unless tx=rollback, as in
 * PostgREST). One line of text per row of EXPLAIN's output.
 */
export async function explainResponse(ctx: RestContext, media: ResponseMedia, sql: string, values: unknown[], readOnly: boolean): Promise<RestResponse> {
  const plan = media.plan!;
  const options = [`format ${plan.format}`, ...plan.options].join(', ');
  const lines = await inTransaction(ctx, readOnly, async (client) => {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>({ text: `explain (${options}) ${sql}`, values, types: RAW_TEXT });
    return rows.map((r) => r['QUERY PLAN']);
  });
  const body = lines.map((l) => `${l}\n`).join('');
  return { status: 200, headers: { ...ctx.headers, 'Content-Type': media.contentType, ...preferenceApplied(ctx.prefs, ['tx']) }, body: ctx.req.method === 'HEAD' ? undefined : body };
}

async function readRelation(ctx: RestContext, rel: Relation, query: ParsedQuery, head: boolean): Promise<RestResponse> {
  const media = negotiate(ctx.accept, headerValue(ctx.req.headers.accept), true, ctx.opts.planEnabled);
  const range = ctx.req.method === 'GET' ? parseRange(headerValue(ctx.req.headers.range)) : undefined;
  const params = new Params();
  const builder = new QueryBuilder(ctx.model, params, query, { maxRows: ctx.opts.maxRows });
  const alias = rel.name;
  const parts = builder.build(rel, alias);
  let offset = parts.offset ?? 0;
  let limit = parts.limit;
  if (range) {
    const first = Math.max(offset, range.first);
    const rangeEnd = range.last === undefined ? Infinity : range.last;
    const limitEnd = limit === undefined ? Infinity : offset + limit - 1;
    const end = Math.min(rangeEnd, limitEnd);
    offset = first;
    limit = end === Infinity ? undefined : Math.max(0, end - first + 1);
  }
  limit = capRows(limit, ctx.opts.maxRows);
  const from = `${qualified(rel.schema, rel.name)} as ${ident(alias)}`;
  const main = selectStatement(from, parts, params, { limit, offset });
  const body = bodyAggregate(media, 'pgrst_source', parts.names, params);
  const sql = `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (${main}) as pgrst_source`;
  if (media.plan) return explainResponse(ctx, media, sql, params.values, true);
  const count = ctx.prefs.count ? countStatement(ctx, rel, query) : undefined;

  const { row, total } = await inTransaction(ctx, true, async (client) => {
    const total = count ? await countRows(client, ctx.prefs, count.sql, count.values, ctx.opts.maxRows) : undefined;
    const { rows } = await client.query<ResultRow>(sql, params.values);
    const row = rows[0];
    if (media.kind === 'object' && Number(row.page_total) !== 1) throw ERRORS.singular(Number(row.page_total));
    return { row, total };
  }, !count);
  const pageTotal = Number(row.page_total);
  if (total !== undefined && offset > total && !(offset === 0 && total === 0)) {
    const err = ERRORS.rangeNotSatisfiable(`An offset of ${offset} was requested, but there are only ${total} rows.`);
    err.headers['Content-Range'] = `*/${total}`;
    throw err;
  }
  let status = total !== undefined && (offset !== 0 || offset + pageTotal < total) && pageTotal < total ? 206 : 200;
  const headers: Record<string, string | string[]> = {
    ...ctx.headers,
    'Content-Type': media.contentType,
    'Content-Range': contentRange(offset, pageTotal, total),
    'Content-Location': canonicalLocation(`/${rel.name}`, ctx.req.search),
    ...preferenceApplied(ctx.prefs, ['count', 'tx', 'handling', 'timezone']),
  };
  status = applyResponseGucs(row, status, headers);
  return { status, headers, body: head ? undefined : row.body ?? '' };
}

// ------------------------------------------------------------------------------------ writes

function returningPreference(ctx: RestContext): 'minimal' | 'headers-only' | 'representation' {
  return ctx.prefs.return ?? 'minimal';
}

/** The column list of an insert/update: `columns=` or the payload's keys, checked against the relation. */
function payloadColumns(rel: Relation, query: ParsedQuery, payload: Payload): string[] {
  const cols = [...new Set(query.columns ?? payload.keys)]; // `columns` is a set, as in PostgREST
  for (const c of cols) if (!rel.columnsByName.has(c)) throw ERRORS.noColumn(c, rel.name);
  return cols;
}

interface MutationPlan {
  /** The data-modifying statement, `returning` the relation's row. */
  statement: string;
  /** Row count check against max-affected (PATCH/DELETE). */
  checkMaxAffected: boolean;
  successStatus: number;
  applied: (keyof Preferences)[];
  contentRangeStyle: 'star' | 'range';
  /** Expression over pgrst_source giving the Location query (POST headers-only). */
  location?: string;
  /** Expression over pgrst_source counting real inserts (upsert 200 vs 201). */
  inserted?: string;
  /** PUT: 201 when it inserted, 200 when it replaced (with representation), else 204. */
  put?: boolean;
}

async function mutate(ctx: RestContext, rel: Relation, query: ParsedQuery, plan: MutationPlan, params: Params, builder: QueryBuilder): Promise<RestResponse> {
  const ret = returningPreference(ctx);
  const representation = ret === 'representation';
  const planned = ctx.opts.planEnabled && ctx.accept.some((m) => isPlanType(m.type)) ? negotiate(ctx.accept, headerValue(ctx.req.headers.accept), true, true) : undefined;
  const media = planned?.plan ? planned : representation ? negotiate(ctx.accept, headerValue(ctx.req.headers.accept)) : undefined;
  const singular = media?.kind === 'object' || (!representation && ctx.accept[0]?.type.startsWith('application/vnd.pgrst.object'));
  const alias = rel.name;
  let repr = `'' as body`;
  let names: string[] = [];
  if (representation) {
    const parts = builder.build(rel, alias, { filters: false, rowIsRecord: true });
    names = parts.names;
    const shaped = selectStatement(`pgrst_source as ${ident(alias)}`, parts, params, { limit: undefined, offset: 0 });
    repr = `(select ${bodyAggregate(media!, 'pgrst_repr', names, params)} from (${shaped}) as pgrst_repr) as body`;
  }
  const extras = [plan.location ? `(select ${plan.location} from pgrst_source limit 1) as pgrst_location` : '', plan.inserted ? `(select ${plan.inserted} from pgrst_source) as pgrst_inserted` : '']
    .filter(Boolean)
    .map((x) => `, ${x}`)
    .join('');
  const sql = `with pgrst_source as (${plan.statement}) select (select count(*) from pgrst_source) as page_total, ${repr}${extras}, ${RESULT_COLUMNS}`;
  if (media?.plan) return explainResponse(ctx, media, sql, params.values, false);
  const row = await inTransaction(ctx, false, async (client) => {
    const { rows } = await client.query<ResultRow>(sql, params.values);
    const r = rows[0];
    const n = Number(r.page_total);
    if (singular && n !== 1) throw ERRORS.singular(n);
    if (plan.checkMaxAffected && ctx.prefs.handling === 'strict' && ctx.prefs.maxAffected !== undefined && n > ctx.prefs.maxAffected) {
      throw ERRORS.maxAffected(n);
    }
    return r;
  });
  const n = Number(row.page_total);
  const total = ctx.prefs.count ? n : undefined;
  const headers: Record<string, string | string[]> = {
    ...ctx.headers,
    'Content-Range': plan.contentRangeStyle === 'range' ? contentRange(0, n, total) : `*/${total ?? '*'}`,
    ...preferenceApplied(ctx.prefs, plan.applied),
  };
  let status = plan.successStatus;
  // merge-duplicates that inserted nothing (every row merged, or an empty payload) is a 200, as in PostgREST.
  const upserting = ctx.prefs.resolution === 'merge-duplicates' && plan.successStatus === 201 && !plan.put;
  if (upserting && (n === 0 || (plan.inserted !== undefined && Number(row.pgrst_inserted ?? 0) === 0))) status = 200;
  if (ret === 'headers-only' && row.pgrst_location && n === 1) headers.Location = `/${encodeURIComponent(rel.name)}?${locationQuery(rel, row.pgrst_location)}`;
  let body: string | undefined;
  if (representation) {
    headers['Content-Type'] = media!.contentType;
    body = row.body ?? '';
    if (status === 204) status = 200;
  } else if (status !== 201) {
    status = status === 200 && plan.inserted !== undefined ? 200 : 204;
  }
  if (plan.put) status = representation ? (Number(row.pgrst_inserted ?? 0) > 0 ? 201 : 200) : 204;
  status = applyResponseGucs(row, status, headers);
  return { status, headers, body };
}

/**
 * What a mutation returns: the whole row only when the response shows it. RETURNING needs SELECT
 * on the returned columns, so an insert-only table (INSERT granted, SELECT not) still accepts
 * `return=minimal` writes; headers-only needs just the primary key for Location.
 */
function returningList(ctx: RestContext, rel: Relation, alias: string, query: ParsedQuery): string {
  const ret = returningPreference(ctx);
  if (ret === 'representation') {
    // Only the selected columns when the select list is plain columns, so a role with SELECT on
    // some columns gets those back; stars, embeds and computed columns need the whole row.
    const cols = query.order.length ? undefined : representationColumns(rel, query.select);
    if (!cols) return `${ident(alias)}.*`;
    return cols.length ? cols.map((c) => `${ident(alias)}.${ident(c)}`).join(', ') : '1 as pgrst_one';
  }
  if (ret === 'headers-only' && rel.pk.length) return rel.pk.map((c) => `${ident(alias)}.${ident(c)}`).join(', ');
  return '1 as pgrst_one';
}

/** The columns a representation reads, or undefined when it needs the whole row. */
function representationColumns(rel: Relation, select: SelectItem[]): string[] | undefined {
  const cols = new Set<string>();
  for (const item of select) {
    if (item.type === 'count') continue;
    if (item.type !== 'field' || !rel.columnsByName.has(item.field.name)) return undefined;
    cols.add(item.field.name);
  }
  return [...cols];
}

/** `pk1=eq.v1&pk2=is.null` for the Location header, built in SQL from the inserted row. */
function locationExpr(rel: Relation): string | undefined {
  if (rel.pk.length === 0) return undefined;
  return `json_build_array(${rel.pk.map((c) => `${ident('pgrst_source')}.${ident(c)}::text`).join(', ')})::text`;
}

/** The Location query from the key values, URL-encoded like a form query (`k=eq.v&k2=is.null`). */
function locationQuery(rel: Relation, json: string): string {
  const values = JSON.parse(json) as (string | null)[];
  return rel.pk.map((c, i) => (values[i] === null ? `${encodeURIComponent(c)}=is.null` : `${encodeURIComponent(c)}=eq.${encodeURIComponent(values[i]!)}`)).join('&');
}

/**
 * `jsonb_build_object('c', <default of c>, …)` over the payload columns that have a default: with
 * `missing=default` it is merged under each payload object (`defaults || object`), as PostgREST
 * does, so every default is evaluated once per row — a sequence advances for every row, whether
 * or not the row gave its own value — and a key the client sent (even `null`) wins.
 */
function defaultsObject(rel: Relation, cols: string[], params: Params): string | undefined {
  const pairs = cols.flatMap((c) => {
    const col = rel.columnsByName.get(c)!;
    return col.defaultExpr ? [`${params.add(c)}::text, (${col.defaultExpr})`] : [];
  });
  return pairs.length ? `jsonb_build_object(${pairs.join(', ')})` : undefined;
}

/** `select <cols> from json_populate_recordset(null::rel, $body)`, honouring missing=default. */
function payloadSelect(rel: Relation, cols: string[], payload: Payload, params: Params, missingDefault: boolean): string {
  const body = params.add(payload.json);
  const rowType = qualified(rel.schema, rel.name);
  const defaults = missingDefault ? defaultsObject(rel, cols, params) : undefined;
  if (!defaults) {
    return `select ${cols.map((c) => ident(c)).join(', ')} from json_populate_recordset(null::${rowType}, ${body}::json) as pgrst_body`;
  }
  return `select ${cols.map((c) => `pgrst_row.${ident(c)}`).join(', ')} from jsonb_array_elements(${body}::jsonb) as pgrst_elem, lateral jsonb_populate_record(null::${rowType}, ${defaults} || pgrst_elem.value) as pgrst_row`;
}

async function insert(ctx: RestContext, rel: Relation, query: ParsedQuery, upsertPut = false): Promise<RestResponse> {
  const payload = parsePayload(ctx.req, query.columns);
  const cols = payloadColumns(rel, query, payload);
  const params = new Params();
  const builder = new QueryBuilder(ctx.model, params, query);
  const onConflict = query.onConflict ?? rel.pk;
  for (const c of onConflict) if (!rel.columnsByName.has(c)) throw ERRORS.noColumn(c, rel.name);
  const resolution = upsertPut ? 'merge-duplicates' : onConflict.length ? ctx.prefs.resolution : undefined;
  const target = `${qualified(rel.schema, rel.name)} as ${ident(rel.name)}`;
  let statement = cols.length
    ? `insert into ${target} (${cols.map(ident).join(', ')}) ${payloadSelect(rel, cols, payload, params, ctx.prefs.missing === 'default')}`
    : `insert into ${target} select from json_array_elements(${params.add(payload.json)}::json)`;
  if (resolution && onConflict.length) {
    let updates = cols.filter((c) => !onConflict.includes(c)).map((c) => `${ident(c)} = excluded.${ident(c)}`);
    // Only key columns: "update" the key to itself so existing rows are returned too.
    if (updates.length === 0) updates = onConflict.map((c) => `${ident(c)} = excluded.${ident(c)}`);
    const action = resolution === 'ignore-duplicates' ? 'do nothing' : `do update set ${updates.join(', ')}`;
    statement += ` on conflict (${onConflict.map(ident).join(', ')}) ${action}`;
  }
  const isTable = rel.kind === 'table' || rel.kind === 'partitioned_table';
  const trackInserts = resolution === 'merge-duplicates' && isTable;
  statement += ` returning ${returningList(ctx, rel, rel.name, query)}${trackInserts ? `, (xmax = 0) as pgrst_was_inserted` : ''}`;
  const applied: (keyof Preferences)[] = ['missing', 'return', 'count', 'tx', 'handling', 'timezone'];
  if (resolution && !upsertPut) applied.unshift('resolution');
  return mutate(ctx, rel, query, {
    statement,
    checkMaxAffected: false,
    successStatus: 201,
    applied,
    contentRangeStyle: 'star',
    location: returningPreference(ctx) === 'headers-only' ? locationExpr(rel) : undefined,
    inserted: trackInserts ? `count(*) filter (where pgrst_was_inserted)` : undefined,
    put: upsertPut,
  }, params, builder);
}

/** The PATCH body as one row of the relation (missing=default: the columns' defaults under it). */
function updateSource(rel: Relation, cols: string[], payload: Payload, params: Params, missingDefault: boolean): string {
  const rowType = qualified(rel.schema, rel.name);
  const body = params.add(payload.json);
  const defaults = missingDefault ? defaultsObject(rel, cols, params) : undefined;
  return defaults
    ? `jsonb_populate_record(null::${rowType}, ${defaults} || (${body}::jsonb->0))`
    : `json_populate_record(null::${rowType}, ${body}::json->0)`;
}

async function update(ctx: RestContext, rel: Relation, query: ParsedQuery): Promise<RestResponse> {
  const payload = parsePayload(ctx.req, query.columns, { single: true });
  const cols = payloadColumns(rel, query, payload);
  const params = new Params();
  const builder = new QueryBuilder(ctx.model, params, query);
  const alias = rel.name;
  const where = builder.rootConditions(rel, alias);
  const target = `${qualified(rel.schema, rel.name)} as ${ident(alias)}`;
  const whereSql = where.length ? ` where ${where.join(' and ')}` : '';
  const statement = cols.length
    ? `update ${target} set (${cols.map(ident).join(', ')}) = (select ${cols.map((c) => `pgrst_body.${ident(c)}`).join(', ')} from ${updateSource(rel, cols, payload, params, ctx.prefs.missing === 'default')} as pgrst_body)${whereSql} returning ${returningList(ctx, rel, alias, query)}`
    : `select ${ident(alias)}.* from ${target}${whereSql} limit 0`;
  return mutate(ctx, rel, query, {
    statement,
    checkMaxAffected: true,
    successStatus: 204,
    applied: ['missing', 'return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
    contentRangeStyle: 'range',
  }, params, builder);
}

async function remove(ctx: RestContext, rel: Relation, query: ParsedQuery): Promise<RestResponse> {
  const params = new Params();
  const builder = new QueryBuilder(ctx.model, params, query);
  const alias = rel.name;
  const where = builder.rootConditions(rel, alias);
  const statement = `delete from ${qualified(rel.schema, rel.name)} as ${ident(alias)}${where.length ? ` where ${where.join(' and ')}` : ''} returning ${returningList(ctx, rel, alias, query)}`;
  return mutate(ctx, rel, query, {
    statement,
    checkMaxAffected: true,
    successStatus: 204,
    applied: ['return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'],
    contentRangeStyle: 'star',
  }, params, builder);
}

/** PUT: a single-row upsert whose filters are exactly the primary key with `eq` (§1.8, PGRST105/114/115). */
async function put(ctx: RestContext, rel: Relation, query: ParsedQuery): Promise<RestResponse> {
  if (query.limits.length || query.offsets.length) throw ERRORS.putLimit();
  const rootFilters = query.filters.filter((f) => f.path.length === 0).map((f) => f.value);
  const pkFilters = new Map(rootFilters.map((f) => [f.field.name, f]));
  const valid =
    rel.pk.length > 0 &&
    query.logic.length === 0 &&
    rootFilters.length === rel.pk.length &&
    rel.pk.every((c) => pkFilters.get(c)?.op === 'eq' && !pkFilters.get(c)!.negated && pkFilters.get(c)!.field.jsonPath.length === 0);
  if (!valid) throw ERRORS.putFilters();
  const payload = parsePayload(ctx.req, query.columns, { single: true });
  const row = payload.rows[0] ?? {};
  for (const c of rel.pk) {
    const v = row[c];
    if (v === undefined || String(v) !== pkFilters.get(c)!.value) throw ERRORS.putPkMismatch();
  }
  return insert(ctx, rel, { ...query, filters: [], onConflict: rel.pk }, true);
}

function optionsFor(ctx: RestContext, rel: Relation): RestResponse {
  const allow = ['OPTIONS', 'GET', 'HEAD'];
  if (rel.insertable) allow.push('POST');
  if (rel.insertable && rel.updatable && rel.pk.length) allow.push('PUT');
  if (rel.updatable) allow.push('PATCH');
  if (rel.deletable) allow.push('DELETE');
  return { status: 200, headers: { ...ctx.headers, Allow: allow.join(','), 'Access-Control-Allow-Origin': '*' }, body: '' };
}

// ------------------------------------------------------------------------------------ routing

type Target = { kind: 'root' } | { kind: 'relation'; name: string } | { kind: 'rpc'; name: string };

function routeTarget(path: string): Target {
  const segments = path.split('/').filter((s, i) => i > 0 || s !== '');
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  const decoded = segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw ERRORS.invalidPath();
    }
  });
  if (decoded.length === 0) return { kind: 'root' };
  if (decoded.length === 1) return { kind: 'relation', name: decoded[0] };
  if (decoded.length === 2 && decoded[0] === 'rpc') return { kind: 'rpc', name: decoded[1] };
  throw ERRORS.invalidPath();
}

function chooseSchema(opts: RestEngineOptions, req: RestRequest): { schema: string; headers: Record<string, string> } {
  const profileHeader = READ_METHODS.has(req.method) || req.method === 'OPTIONS' ? req.headers['accept-profile'] : req.headers['content-profile'];
  const requested = headerValue(profileHeader)?.trim();
  const schema = requested || opts.schemas[0];
  if (!opts.schemas.includes(schema)) throw ERRORS.invalidSchema(schema, opts.schemas);
  const headers: Record<string, string> = requested || opts.schemas.length > 1 ? { 'Content-Profile': schema } : {};
  return { schema, headers };
}

async function dispatch(opts: RestEngineOptions, req: RestRequest): Promise<RestResponse> {
  if (!METHODS.has(req.method)) throw ERRORS.unsupportedMethod(req.method);
  const target = routeTarget(req.path.split('?')[0]);
  const caller = await authenticate(opts.verifier, headerValue(req.headers.authorization));
  const { schema, headers } = chooseSchema(opts, req);
  const model = opts.model();
  if (!model) throw ERRORS.schemaCacheNotReady();
  const prefs = parsePrefer(req.headers.prefer);
  if (prefs.timezone !== undefined && !isTimeZone(prefs.timezone)) {
    prefs.invalid.push(`timezone=${prefs.timezone}`);
    delete prefs.timezone;
  }
  if (prefs.handling === 'strict' && prefs.invalid.length) throw ERRORS.invalidPreferences(prefs.invalid);
  const ctx: RestContext = { opts, model, req, caller, schema, prefs, accept: parseAccept(headerValue(req.headers.accept)), headers };

  if (target.kind === 'root') {
    if (!READ_METHODS.has(req.method) && req.method !== 'OPTIONS') throw ERRORS.unsupportedMethod(req.method);
    const { openApiDocument } = await import('./openapi.ts');
    if (req.method === 'OPTIONS') return { status: 200, headers: { ...headers, Allow: 'OPTIONS,GET,HEAD' }, body: '' };
    const acceptable = ctx.accept.some((m) => ['*/*', 'application/*', 'application/json', 'application/openapi+json'].includes(m.type));
    if (!acceptable) throw ERRORS.mediaType(headerValue(req.headers.accept) ?? '');
    const doc = openApiDocument(model, schema);
    return { status: 200, headers: { ...headers, 'Content-Type': 'application/openapi+json; charset=utf-8' }, body: req.method === 'HEAD' ? undefined : JSON.stringify(doc) };
  }
  if (target.kind === 'rpc') {
    if (req.method === 'OPTIONS') return rpcOptions(ctx, target.name);
    if (!['GET', 'HEAD', 'POST'].includes(req.method)) throw ERRORS.rpcMethod(req.method);
    const query = parseQuery(req.search, { rpcRead: READ_METHODS.has(req.method) });
    return callFunction(ctx, target.name, query);
  }
  const rel = findRelation(ctx, target.name);
  if (req.method === 'OPTIONS') return optionsFor(ctx, rel);
  const query = parseQuery(req.search, { rpcRead: false });
  switch (req.method) {
    case 'GET':
    case 'HEAD':
      return readRelation(ctx, rel, query, req.method === 'HEAD');
    case 'POST':
      return insert(ctx, rel, query);
    case 'PATCH':
      return update(ctx, rel, query);
    case 'PUT':
      return put(ctx, rel, query);
    default:
      return remove(ctx, rel, query);
  }
}

/** Serves one request; never throws: every failure becomes PostgREST's error response. */
export async function handleRestRequest(opts: RestEngineOptions, req: RestRequest): Promise<RestResponse> {
  try {
    return await dispatch(opts, req);
  } catch (err) {
    const e = toRestError(err, false);
    return {
      status: e.status,
      ...(e.statusText !== undefined && { statusText: e.statusText }),
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Proxy-Status': `PostgREST; error=${e.code}`, ...e.headers },
      body: JSON.stringify(e.body),
    };
  }
}

export { RestError };
