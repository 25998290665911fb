/**
 * Stage 5 (PostgREST's Response): status and headers from a plan and its result row —
 * Content-Range, Content-Location, Location, Preference-Applied, the response.headers and
 * response.status GUCs the SQL set (docs/postgrest.md §1.2, §2.1, §4) — and the error response.
 */
import type { RequestInfo, RestResponse } from './api-request.ts';
import type { Preferences } from './ast.ts';
import { ERRORS, toRestError } from './errors.ts';
import type { ResponseMedia } from './media.ts';
import type { Relation, RestModel } from './model.ts';
import type { CallPlan } from './plan/call.ts';
import type { MutatePlan } from './plan/mutate.ts';
import type { ReadPlan } from './plan/read.ts';
import type { ResultRow } from './query/statement.ts';

type Headers = Record<string, string | string[]>;

/** response.headers / response.status GUCs set by the SQL (§4). */
function applyResponseGucs(row: ResultRow, status: number, headers: Headers): number {
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
function preferenceApplied(prefs: Preferences, applied: (keyof Preferences)[]): Record<string, string> {
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

/** A `name=value` pair that URLSearchParams reads and writes back unchanged (no escapes, `+`, `&`, `=` in the value or other characters it encodes). */
const PLAIN_PAIR = /^[A-Za-z0-9*._-]+=[A-Za-z0-9*._-]*$/;

/** Canonical query for Content-Location: params sorted by key (§1.2). */
function canonicalLocation(path: string, search: string): string {
  // Most queries (`id=eq.5`, `order=id&limit=20`) are plain pairs: sorted as they are, without
  // URLSearchParams' decoding and re-encoding, the same string (a stable sort by name, as below).
  if (search === '') return path;
  const pairs = search.split('&');
  if (pairs.every((p) => PLAIN_PAIR.test(p))) {
    if (pairs.length > 1) pairs.sort((x, y) => {
      const a = x.slice(0, x.indexOf('='));
      const b = y.slice(0, y.indexOf('='));
      return a < b ? -1 : a > b ? 1 : 0;
    });
    return `${path}?${pairs.join('&')}`;
  }
  const params = [...new URLSearchParams(search)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const q = new URLSearchParams(params).toString();
  return q ? `${path}?${q}` : path;
}

/** The Location query from the key values, URL-encoded like a form query (`k=eq.v&k2=is.null`). */
function locationQuery(rel: Relation, json: string): string {
  const values = JSON.parse(json) as (string | null)[];
  return rel.pk.map((c, i) => (values[i] === null ? `${encodeURIComponent(c)}=is.null` : `${encodeURIComponent(c)}=eq.${encodeURIComponent(values[i]!)}`)).join('&');
}

export function readResponse(api: RequestInfo, plan: ReadPlan, row: ResultRow, total: number | undefined): RestResponse {
  const { offset } = plan;
  const pageTotal = Number(row.page_total);
  if (total !== undefined && offset > total && !(offset === 0 && total === 0)) {
    const err = ERRORS.rangeNotSatisfiable(`An offset of ${offset} was requested, but there are only ${total} rows.`);
    err.headers['Content-Range'] = `*/${total}`;
    throw err;
  }
  const status = total !== undefined && (offset !== 0 || offset + pageTotal < total) && pageTotal < total ? 206 : 200;
  const headers: Headers = {
    ...api.headers,
    'Content-Type': plan.media.contentType,
    'Content-Range': contentRange(offset, pageTotal, total),
    'Content-Location': canonicalLocation(`/${plan.tree.rel.name}`, api.req.search),
    ...preferenceApplied(api.prefs, ['count', 'tx', 'handling', 'timezone']),
  };
  return { status: applyResponseGucs(row, status, headers), headers, body: plan.head ? undefined : row.body ?? '' };
}

export function mutateResponse(api: RequestInfo, plan: MutatePlan, row: ResultRow): RestResponse {
  const n = Number(row.page_total);
  const total = api.prefs.count ? n : undefined;
  const headers: Headers = {
    ...api.headers,
    'Content-Range': plan.contentRangeStyle === 'range' ? contentRange(0, n, total) : `*/${total ?? '*'}`,
    ...preferenceApplied(api.prefs, plan.applied),
  };
  let status = plan.successStatus;
  // merge-duplicates that inserted nothing (every row merged, or an empty payload) is a 200, as in PostgREST.
  const upserting = api.prefs.resolution === 'merge-duplicates' && plan.successStatus === 201 && !plan.put;
  if (upserting && (n === 0 || (plan.trackInserts && Number(row.pgrst_inserted ?? 0) === 0))) status = 200;
  if (plan.returning === 'headers-only' && row.pgrst_location && n === 1) headers.Location = `/${encodeURIComponent(plan.rel.name)}?${locationQuery(plan.rel, row.pgrst_location)}`;
  let body: string | undefined;
  if (plan.representation) {
    headers['Content-Type'] = plan.representation.media.contentType;
    body = row.body ?? '';
    if (status === 204) status = 200;
  } else if (status !== 201) {
    status = status === 200 && plan.trackInserts ? 200 : 204;
  }
  if (plan.put) status = plan.representation ? (Number(row.pgrst_inserted ?? 0) > 0 ? 201 : 200) : 204;
  return { status: applyResponseGucs(row, status, headers), headers, body };
}

export function callResponse(api: RequestInfo, plan: CallPlan, row: ResultRow, total: number | undefined): RestResponse {
  const n = Number(row.page_total);
  const headers: Headers = { ...api.headers, ...preferenceApplied(api.prefs, ['count', 'tx', 'handling', 'timezone', 'maxAffected']) };
  if (plan.fn.returnKind === 'void') return { status: applyResponseGucs(row, 204, headers), headers };
  headers['Content-Type'] = plan.media.contentType;
  // A single value is a set of one: its exact count is the row itself.
  const known = total ?? (api.prefs.count && !plan.fn.returnsSet ? n : undefined);
  headers['Content-Range'] = n > 0 ? `${plan.rangeFirst}-${plan.rangeFirst + n - 1}/${known ?? '*'}` : `*/${known ?? '*'}`;
  const status = total !== undefined && n < total ? 206 : 200;
  return { status: applyResponseGucs(row, status, headers), headers, body: plan.head ? undefined : row.body ?? 'null' };
}

/** The answer to a plan request: EXPLAIN's lines as the body. */
export function explainResponse(api: RequestInfo, media: ResponseMedia, lines: string[]): RestResponse {
  const body = lines.map((l) => `${l}\n`).join('');
  return { status: 200, headers: { ...api.headers, 'Content-Type': media.contentType, ...preferenceApplied(api.prefs, ['tx']) }, body: api.req.method === 'HEAD' ? undefined : body };
}

export function relationOptions(api: RequestInfo, rel: Relation): RestResponse {
  const allow = ['OPTIONS', 'GET', 'HEAD'];
  if (rel.insertable) allow.push('POST');
  if (rel.insertable && rel.updatable && rel.pk.length) allow.push('PUT');
  if (rel.updatable) allow.push('PATCH');
  if (rel.deletable) allow.push('DELETE');
  return { status: 200, headers: { ...api.headers, Allow: allow.join(','), 'Access-Control-Allow-Origin': '*' }, body: '' };
}

export function rpcOptions(api: RequestInfo, model: RestModel, name: string): RestResponse {
  const fns = model.functions(api.schema, name).filter((f) => f.callable);
  if (!fns.length) throw ERRORS.noFunction(`Could not find the function ${api.schema}.${name} in the schema cache`, '', null);
  const volatile = fns.every((f) => f.volatility === 'volatile');
  return { status: 200, headers: { ...api.headers, Allow: volatile ? 'OPTIONS,POST' : 'OPTIONS,GET,HEAD,POST' }, body: '' };
}

/** Any failure as PostgREST's error response. */
export function errorResponse(err: unknown): RestResponse {
  const e = toRestError(err, false);
  return {
    status: e.status,
    ...(e.statusText !== undefined && { statusText: e.statusText }),
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Proxy-Status': `PostgREST; error=${e.code}`, ...e.headers },
    body: JSON.stringify(e.render()),
  };
}
