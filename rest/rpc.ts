/**
 * `/rpc/<function>` (§5): overload resolution by argument names, the call with every argument a
 * bind parameter (POST bodies go through json_to_record so JSON arrays become Postgres arrays),
 * and result shaping — sets and composites as rows (select, filters, order, embedding apply),
 * scalars as JSON values, void as 204. GET and stable/immutable functions run read-only.
 */
import type { ParsedQuery } from './ast.ts';
import {
  applyResponseGucs,
  countRows,
  explainResponse,
  inTransaction,
  preferenceApplied,
  RESULT_COLUMNS,
  type RestContext,
  type RestResponse,
  type ResultRow,
} from './engine.ts';
import { ERRORS } from './errors.ts';
import { bodyAggregate, negotiate } from './media.ts';
import type { Column, Relation, RestFunction } from './model.ts';
import { routineTypeName } from './model-build.ts';
import { parsePayload } from './payload.ts';
import { capRows, QueryBuilder, selectStatement } from './query-builder.ts';
import { suggest, suggestName } from './relationships.ts';
import { arrayLiteral, ident, Params, qualified, typeSql } from './sql.ts';

/**
 * How the chosen function gets its arguments: by name (`named`: GET/form values, or the JSON
 * body through json_to_record), or the whole body as its one unnamed argument (`positional`).
 */
type Args =
  | { kind: 'named'; values: Map<string, unknown[]>; json?: string }
  | { kind: 'positional'; value: string | Buffer };

/** The request body's kind, as PostgREST tells them apart for /rpc. */
type BodyMedia = 'json' | 'text' | 'xml' | 'octet' | 'other';

interface CallInput {
  /** Argument names given (query string keys, body keys or `columns`). */
  given: Map<string, unknown[]>;
  /** The JSON object of the arguments (POST JSON: the client's own text). */
  json?: string;
  /** text/plain, text/xml, application/octet-stream bodies: the body itself. */
  raw?: string | Buffer;
  isPost: boolean;
  media: BodyMedia;
}

/** The type a single unnamed argument must have to take a body of this kind. */
const RAW_PARAM_TYPES: Record<BodyMedia, string[]> = { json: ['json', 'jsonb'], text: ['text'], xml: ['xml'], octet: ['bytea'], other: [] };
const RAW_MEDIA: Record<string, BodyMedia> = { 'text/plain': 'text', 'text/xml': 'xml', 'application/octet-stream': 'octet' };

/** A type in PostgREST's signature text: `public.f(a => integer, b => text)`. */
function signature(fn: RestFunction): string {
  return `${fn.schema}.${fn.name}(${fn.args.map((a) => `${a.name} => ${routineTypeName(a.type)}`).join(', ')})`;
}

const sameKeys = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((k) => b.has(k));

/** The one unnamed argument that takes the whole body. */
const onePositional = (fn: RestFunction) => fn.args.length === 1 && fn.args[0].name === '';

/**
 * PostgREST's findProc match on argument names: a function without arguments needs none (and
 * no raw body); otherwise the keys must be the required arguments plus any optional ones. An
 * empty key may only stand for a function's single unnamed argument (it is passed by position):
 * an unnamed argument among named ones cannot be passed at all, so such a call matches nothing.
 */
function matchesParams(fn: RestFunction, keys: Set<string>, input: CallInput): boolean {
  if (fn.args.length === 0) return keys.size === 0 && !(input.isPost && ['text', 'xml', 'octet'].includes(input.media));
  if (keys.has('') && !onePositional(fn)) return false;
  const required = new Set(fn.args.filter((a) => !a.hasDefault).map((a) => a.name));
  const optional = new Set(fn.args.filter((a) => a.hasDefault).map((a) => a.name));
  if (optional.size === 0) return sameKeys(keys, required);
  if (required.size === 0) return [...keys].every((k) => optional.has(k));
  return sameKeys(new Set([...keys].filter((k) => !optional.has(k))), required);
}

/** POST with a body of the type of a function's single unnamed argument: it takes the body. */
function takesBody(fn: RestFunction, input: CallInput): boolean {
  return input.isPost && onePositional(fn) && fn.args[0].type.schema === 'pg_catalog' && RAW_PARAM_TYPES[input.media].includes(fn.args[0].type.name);
}

function bodyMedia(ctx: RestContext): BodyMedia {
  const raw = ctx.req.headers['content-type'];
  const type = ((Array.isArray(raw) ? raw[0] : raw) ?? 'application/json').split(';')[0].trim().toLowerCase();
  return type === 'application/json' ? 'json' : RAW_MEDIA[type] ?? 'other';
}

function collectArgs(ctx: RestContext, query: ParsedQuery): CallInput {
  if (ctx.req.method !== 'POST') {
    const given = new Map<string, unknown[]>();
    for (const [k, v] of query.rpcArgs) (given.get(k) ?? given.set(k, []).get(k)!).push(v);
    return { given, isPost: false, media: 'other' };
  }
  const media = bodyMedia(ctx);
  if (media === 'text' || media === 'xml') return { given: new Map(), raw: ctx.req.body?.toString('utf8') ?? '', isPost: true, media };
  if (media === 'octet') return { given: new Map(), raw: ctx.req.body ?? Buffer.alloc(0), isPost: true, media };
  const text = ctx.req.body?.toString('utf8').trim() ?? '';
  const isJson = !ctx.req.headers['content-type'] || String(ctx.req.headers['content-type']).toLowerCase().includes('json');
  if (isJson && text === '') return { given: new Map(), json: '{}', isPost: true, media };
  const payload = parsePayload(ctx.req, query.columns, { single: true });
  const row = payload.rows[0] ?? {};
  const keys = query.columns ?? Object.keys(row);
  const given = new Map<string, unknown[]>(keys.map((k) => [k, [row[k]]]));
  const rawObject = isJson && text.startsWith('{') && !query.columns ? text : JSON.stringify(Object.fromEntries(keys.map((k) => [k, row[k] ?? null])));
  return { given, json: rawObject, isPost: true, media };
}

/** The arguments as one JSON object (what a single unnamed argument receives on GET or a form POST). */
function argsObject(given: Map<string, unknown[]>): string {
  return JSON.stringify(Object.fromEntries([...given].map(([k, v]) => [k, v.length > 1 ? v : v[v.length - 1]])));
}

/** `(a, b, c)`: argument names sorted, as PostgREST compares them for its hint. */
const paramList = (names: string[]) => `(${[...names].sort(compareText).join(', ')})`;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The function `name` called with these arguments, as PostgREST's findProc chooses it among the
 * overloads /rpc can call (in PostgREST's order): one whose argument names match, else the one
 * taking the whole body; several are PGRST203, none PGRST202 with PostgREST's hint.
 */
function chooseFunction(ctx: RestContext, name: string, query: ParsedQuery): { fn: RestFunction; args: Args } {
  const candidates = ctx.model.functions(ctx.schema, name).filter((f) => f.callable);
  const input = collectArgs(ctx, query);
  const keys = new Set(input.given.keys());
  const matching = candidates.filter((f) => matchesParams(f, keys, input));
  const fallback = candidates.filter((f) => !matchesParams(f, keys, input) && takesBody(f, input));
  const chosen = matching.length ? matching : fallback;
  if (chosen.length > 1) throw ERRORS.ambiguousFunction(chosen.map(signature));
  if (chosen.length === 1) {
    const fn = chosen[0];
    if (onePositional(fn)) {
      const value = input.raw ?? (input.isPost && input.media === 'json' ? input.json ?? '{}' : argsObject(input.given));
      return { fn, args: { kind: 'positional', value } };
    }
    return { fn, args: { kind: 'named', values: input.given, json: input.json } };
  }
  throw noFunction(ctx, name, [...keys].sort(compareText), input, candidates);
}

/** PGRST202 worded as PostgREST words it (v13 NoRpc): message, details and the "Perhaps" hint. */
function noFunction(ctx: RestContext, name: string, keys: string[], input: CallInput, overloads: RestFunction[]) {
  const qualifiedName = `${ctx.schema}.${name}`;
  const onlyBody = input.isPost && ['text', 'xml', 'octet'].includes(input.media);
  const listed = keys.length ? `(${keys.join(', ')})` : ' without parameters';
  const message = `Could not find the function ${qualifiedName}${onlyBody ? '' : listed} in the schema cache`;
  const withParams = keys.length ? ` with parameter${keys.length > 1 ? 's' : ''} ${keys.join(', ')}` : ' without parameters';
  const searched = !input.isPost
    ? withParams
    : input.media === 'text' ? ' with a single unnamed text parameter'
      : input.media === 'xml' ? ' with a single unnamed xml parameter'
        : input.media === 'octet' ? ' with a single unnamed bytea parameter'
          : input.media === 'json' ? `${withParams} or with a single unnamed json/jsonb parameter` : withParams;
  const details = `Searched for the function ${qualifiedName}${searched}, but no matches were found in the schema cache.`;
  let hint: string | null = null;
  if (!onlyBody) {
    if (overloads.length) {
      const close = suggest(paramList(keys), overloads.map((f) => paramList(f.args.map((a) => a.name))));
      if (close) hint = `Perhaps you meant to call the function ${qualifiedName}${close}`;
    } else {
      const close = suggestName(name, ctx.model.allFunctions(ctx.schema).filter((f) => f.callable).map((f) => f.name));
      if (close) hint = `Perhaps you meant to call the function ${ctx.schema}.${close}`;
    }
  }
  return ERRORS.noFunction(message, details, hint);
}

/** The call expression, plus the FROM items its arguments need (json_to_record for POST). */
function callSql(fn: RestFunction, args: Args, params: Params): { call: string; argsFrom?: string } {
  const fnName = qualified(fn.schema, fn.name);
  if (args.kind === 'positional') return { call: `${fnName}(${params.add(args.value)}::${typeSql(fn.args[0].type)})` };
  const used = fn.args.filter((a) => args.values.has(a.name));
  if (args.json !== undefined) {
    if (used.length === 0) return { call: `${fnName}()` };
    const defs = used.map((a) => `${ident(a.name)} ${typeSql(a.type)}`).join(', ');
    const argsFrom = `json_to_record(${params.add(args.json)}::json) as pgrst_args(${defs})`;
    const list = used.map((a) => `${a.variadic ? 'variadic ' : ''}${ident(a.name)} := pgrst_args.${ident(a.name)}`);
    return { call: `${fnName}(${list.join(', ')})`, argsFrom };
  }
  const list = used.map((a) => {
    const values = args.values.get(a.name)!.map((v) => (v === null || v === undefined ? null : String(v)));
    const value = a.variadic ? arrayLiteral(values.filter((v): v is string => v !== null)) : values[values.length - 1];
    return `${a.variadic ? 'variadic ' : ''}${ident(a.name)} := ${params.add(value)}::${typeSql(a.type)}`;
  });
  return { call: `${fnName}(${list.join(', ')})` };
}

/** A relation-like view of a function result without a relation type of its own. */
function resultRelation(fn: RestFunction): Relation {
  if (fn.returnRelation) return fn.returnRelation;
  const columns: Column[] = [];
  return { schema: fn.schema, name: fn.name, kind: 'view', columns, columnsByName: new Map(), pk: [], insertable: false, updatable: false, deletable: false };
}

export async function callFunction(ctx: RestContext, name: string, query: ParsedQuery): Promise<RestResponse> {
  const { fn, args } = chooseFunction(ctx, name, query);
  const isRead = ctx.req.method !== 'POST';
  const readOnly = isRead || fn.volatility !== 'volatile';
  const media = negotiate(ctx.accept, ctx.req.headers.accept as string | undefined, fn.returnKind === 'composite', ctx.opts.planEnabled);
  const params = new Params();
  const { call, argsFrom } = callSql(fn, args, params);
  const fromArgs = argsFrom ? `${argsFrom}, lateral ` : '';
  const alias = 'pgrst_call';
  let sql: string;
  let count: { sql: string; values: unknown[] } | undefined;

  if (fn.returnKind === 'void') {
    sql = `select 1 as page_total, null::text as body, ${RESULT_COLUMNS} from (select ${call}${argsFrom ? ` from ${argsFrom}` : ''}) as pgrst_void`;
  } else if (fn.returnKind === 'scalar') {
    const from = `${fromArgs}${call} as ${ident('pgrst_scalar')}`;
    const body = fn.returnsSet
      ? media.kind === 'object' ? `coalesce((json_agg(pgrst_source.pgrst_scalar)->0)::text, 'null')` : `coalesce(json_agg(pgrst_source.pgrst_scalar), '[]')::text`
      : `coalesce(to_json(min_source.pgrst_scalar)::text, 'null')`;
    // A set of scalars is paged like rows (limit, offset, db-max-rows).
    const limit = capRows(query.limits.find((l) => l.path.length === 0)?.value, ctx.opts.maxRows);
    const offset = query.offsets.find((o) => o.path.length === 0)?.value;
    const page = !fn.returnsSet ? '' : `${limit !== undefined ? ` limit ${params.add(String(limit))}::bigint` : ''}${offset ? ` offset ${params.add(String(offset))}::bigint` : ''}`;
    sql = fn.returnsSet
      ? `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}${page}) as pgrst_source`
      : `select 1 as page_total, ${body} as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}) as min_source`;
  } else {
    const rel = resultRelation(fn);
    const builder = new QueryBuilder(ctx.model, params, query, { maxRows: ctx.opts.maxRows });
    const parts = builder.build(rel, alias);
    parts.limit = capRows(parts.limit, ctx.opts.maxRows);
    const starOnly = query.select.length === 1 && query.select[0].type === 'star';
    if (rel.columns.length === 0 && starOnly) {
      parts.columns = [`${ident(alias)}.*`];
    }
    const from = `${fromArgs}${call} as ${ident(alias)}`;
    const main = selectStatement(from, parts, params);
    const single = !fn.returnsSet;
    const body = single && media.kind !== 'csv'
      ? bodyAggregate({ ...media, kind: 'object' }, 'pgrst_source', parts.names, params)
      : bodyAggregate(media, 'pgrst_source', parts.names, params);
    sql = `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (${main}) as pgrst_source`;
    if (ctx.prefs.count) {
      const countParams = new Params();
      const c = callSql(fn, args, countParams);
      const countParts = new QueryBuilder(ctx.model, countParams, query).build(rel, alias, { columns: false, order: false });
      const countFrom = `${c.argsFrom ? `${c.argsFrom}, lateral ` : ''}${c.call} as ${ident(alias)}`;
      count = { sql: selectStatement(countFrom, { ...countParts, columns: ['1'] }, countParams, { limit: undefined, offset: 0 }), values: countParams.values };
    }
  }

  if (media.plan) return explainResponse(ctx, media, sql, params.values, readOnly);
  const { row, total } = await inTransaction(ctx, readOnly, async (client) => {
    const total = count ? await countRows(client, ctx.prefs, count.sql, count.values) : undefined;
    const { rows } = await client.query<ResultRow>(sql, params.values);
    const row = rows[0];
    const n = Number(row.page_total);
    if (media.kind === 'object' && n !== 1) throw ERRORS.singular(n);
    if (ctx.prefs.handling === 'strict' && ctx.prefs.maxAffected !== undefined) {
      if (!fn.returnsSet) throw ERRORS.maxAffectedScalar();
      if (n > ctx.prefs.maxAffected) throw ERRORS.maxAffected(n);
    }
    return { row, total };
  }, readOnly && !count);
  const n = Number(row.page_total);
  const headers: Record<string, string | string[]> = {
    ...ctx.headers,
    ...preferenceApplied(ctx.prefs, ['count', 'tx', 'handling', 'timezone', 'maxAffected']),
  };
  if (fn.returnKind === 'void') {
    const status = applyResponseGucs(row, 204, headers);
    return { status, headers };
  }
  headers['Content-Type'] = media.contentType;
  const first = fn.returnsSet ? (query.offsets.find((o) => o.path.length === 0)?.value ?? 0) : 0;
  // A single value is a set of one: its exact count is the row itself.
  const known = total ?? (ctx.prefs.count && !fn.returnsSet ? n : undefined);
  headers['Content-Range'] = n > 0 ? `${first}-${first + n - 1}/${known ?? '*'}` : `*/${known ?? '*'}`;
  let status = total !== undefined && n < total ? 206 : 200;
  status = applyResponseGucs(row, status, headers);
  return { status, headers, body: ctx.req.method === 'HEAD' ? undefined : row.body ?? 'null' };
}

export function rpcOptions(ctx: RestContext, name: string): RestResponse {
  const fns = ctx.model.functions(ctx.schema, name).filter((f) => f.callable);
  if (!fns.length) throw ERRORS.noFunction(`Could not find the function ${ctx.schema}.${name} in the schema cache`, '', null);
  const volatile = fns.every((f) => f.volatility === 'volatile');
  return { status: 200, headers: { ...ctx.headers, Allow: volatile ? 'OPTIONS,POST' : 'OPTIONS,GET,HEAD,POST' }, body: '' };
}
