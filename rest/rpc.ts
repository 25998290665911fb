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
import { parsePayload } from './payload.ts';
import { QueryBuilder, selectStatement } from './query-builder.ts';
import { suggest } from './relationships.ts';
import { arrayLiteral, ident, Params, qualified, typeSql } from './sql.ts';

type Args = { kind: 'named'; values: Map<string, unknown[]>; json?: string } | { kind: 'single-json'; json: string };

function signature(fn: RestFunction): string {
  return `${fn.schema}.${fn.name}(${fn.args.map((a) => `${a.name} => ${a.type.display ?? a.type.name}`).join(', ')})`;
}

function acceptsNames(fn: RestFunction, given: string[]): boolean {
  const names = fn.args.map((a) => a.name);
  if (given.some((g) => !names.includes(g))) return false;
  return fn.args.slice(0, fn.requiredCount).every((a) => given.includes(a.name));
}

const singleUnnamedJson = (fn: RestFunction) =>
  fn.args.length === 1 && fn.args[0].name === '' && fn.args[0].type.schema === 'pg_catalog' && ['json', 'jsonb'].includes(fn.args[0].type.name);

function collectArgs(ctx: RestContext, query: ParsedQuery): { given: Map<string, unknown[]>; json?: string; isPost: boolean } {
  if (ctx.req.method !== 'POST') {
    const given = new Map<string, unknown[]>();
    for (const [k, v] of query.rpcArgs) (given.get(k) ?? given.set(k, []).get(k)!).push(v);
    return { given, isPost: false };
  }
  const text = ctx.req.body?.toString('utf8').trim() ?? '';
  const isJson = !ctx.req.headers['content-type'] || String(ctx.req.headers['content-type']).toLowerCase().includes('json');
  if (isJson && text === '') return { given: new Map(), json: '{}', isPost: true };
  const payload = parsePayload(ctx.req, query.columns, { single: true });
  const row = payload.rows[0] ?? {};
  const keys = query.columns ?? Object.keys(row);
  const given = new Map<string, unknown[]>(keys.map((k) => [k, [row[k]]]));
  const rawObject = isJson && text.startsWith('{') && !query.columns ? text : JSON.stringify(Object.fromEntries(keys.map((k) => [k, row[k] ?? null])));
  return { given, json: rawObject, isPost: true };
}

function chooseFunction(ctx: RestContext, name: string, query: ParsedQuery): { fn: RestFunction; args: Args } {
  const candidates = ctx.model.functions(ctx.schema, name);
  const { given, json, isPost } = collectArgs(ctx, query);
  const names = [...given.keys()];
  const matching = candidates.filter((f) => !singleUnnamedJson(f) && acceptsNames(f, names));
  if (matching.length === 1) return { fn: matching[0], args: { kind: 'named', values: given, json } };
  if (matching.length > 1) throw ERRORS.ambiguousFunction(matching.map(signature));
  const jsonFn = isPost ? candidates.filter(singleUnnamedJson) : [];
  if (jsonFn.length === 1) return { fn: jsonFn[0], args: { kind: 'single-json', json: json ?? '{}' } };
  const qualifiedName = `${ctx.schema}.${name}`;
  const message = names.length
    ? `Could not find the function ${qualifiedName}(${names.join(', ')}) in the schema cache`
    : `Could not find the function ${qualifiedName} without parameters in the schema cache`;
  const details = `Searched for the function ${qualifiedName}${names.length ? ` with parameter${names.length > 1 ? 's' : ''} ${names.join(', ')}` : ' without parameters'}${isPost ? ' or with a single unnamed json/jsonb parameter' : ''}, but no matches were found in the schema cache.`;
  let hint: string | null = null;
  if (candidates.length) hint = `Perhaps you meant to call the function ${signature(candidates[0]).replace(/ => \w+/g, '')}`;
  else {
    const close = suggest(name, ctx.model.allFunctions(ctx.schema).map((f) => f.name));
    if (close) hint = `Perhaps you meant to call the function ${ctx.schema}.${close}`;
  }
  throw ERRORS.noFunction(message, details, hint);
}

/** The call expression, plus the FROM items its arguments need (json_to_record for POST). */
function callSql(fn: RestFunction, args: Args, params: Params): { call: string; argsFrom?: string } {
  const fnName = qualified(fn.schema, fn.name);
  if (args.kind === 'single-json') return { call: `${fnName}(${params.add(args.json)}::${typeSql(fn.args[0].type)})` };
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
  const media = negotiate(ctx.accept, ctx.req.headers.accept as string | undefined, fn.returnKind === 'composite');
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
    sql = fn.returnsSet
      ? `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}) as pgrst_source`
      : `select 1 as page_total, ${body} as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}) as min_source`;
  } else {
    const rel = resultRelation(fn);
    const builder = new QueryBuilder(ctx.model, params, query);
    const parts = builder.build(rel, alias);
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
  const fns = ctx.model.functions(ctx.schema, name);
  if (!fns.length) throw ERRORS.noFunction(`Could not find the function ${ctx.schema}.${name} in the schema cache`, '', null);
  const volatile = fns.every((f) => f.volatility === 'volatile');
  return { status: 200, headers: { ...ctx.headers, Allow: volatile ? 'OPTIONS,POST' : 'OPTIONS,GET,HEAD,POST' }, body: '' };
}
