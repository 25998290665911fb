/**
 * SQL of a call plan: the call with every argument a bind parameter (POST bodies go through
 * json_to_record so JSON arrays become Postgres arrays), and the body — sets and composites as
 * rows (the plan's read tree rendered over the call), scalars as JSON values, void as nothing.
 */
import { bodyAggregate } from '../media.ts';
import type { RestFunction, RestModel } from '../model.ts';
import type { Args, CallPlan } from '../plan/call.ts';
import { arrayLiteral, ident, Params, qualified, typeSql } from '../sql.ts';
import { SelectSql, selectStatement } from './select.ts';
import { RESULT_COLUMNS, type Statements } from './statement.ts';

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

/** `<args>, lateral <call> as alias` (or just the call) as a FROM list. */
function callFrom(fn: RestFunction, args: Args, params: Params, alias: string): string {
  const { call, argsFrom } = callSql(fn, args, params);
  return `${argsFrom ? `${argsFrom}, lateral ` : ''}${call} as ${ident(alias)}`;
}

function scalarSql(plan: CallPlan, params: Params): string {
  const { fn, media } = plan;
  const from = callFrom(fn, plan.args, params, 'pgrst_scalar');
  if (!fn.returnsSet) {
    return `select 1 as page_total, coalesce(to_json(min_source.pgrst_scalar)::text, 'null') as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}) as min_source`;
  }
  const body = media.kind === 'object' ? `coalesce((json_agg(pgrst_source.pgrst_scalar)->0)::text, 'null')` : `coalesce(json_agg(pgrst_source.pgrst_scalar), '[]')::text`;
  // A set of scalars is paged like rows (limit, offset, db-max-rows).
  const page = `${plan.limit !== undefined ? ` limit ${params.add(String(plan.limit))}::bigint` : ''}${plan.offset ? ` offset ${params.add(String(plan.offset))}::bigint` : ''}`;
  return `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (select ${ident('pgrst_scalar')} from ${from}${page}) as pgrst_source`;
}

export function callStatements(model: RestModel, plan: CallPlan, maxRows: number | undefined): Statements {
  const { fn, args } = plan;
  const params = new Params();
  if (fn.returnKind === 'void') {
    const { call, argsFrom } = callSql(fn, args, params);
    const sql = `select 1 as page_total, null::text as body, ${RESULT_COLUMNS} from (select ${call}${argsFrom ? ` from ${argsFrom}` : ''}) as pgrst_void`;
    return { main: { sql, values: params.values } };
  }
  if (fn.returnKind === 'scalar') return { main: { sql: scalarSql(plan, params), values: params.values } };
  const tree = plan.tree!;
  const alias = tree.alias;
  const from = callFrom(fn, args, params, alias);
  const parts = new SelectSql(model, params, tree, { maxRows }).build();
  parts.limit = plan.limit;
  if (tree.rel.columns.length === 0 && tree.query.select.length === 1 && tree.query.select[0].type === 'star') parts.columns = [`${ident(alias)}.*`];
  const main = selectStatement(from, parts, params);
  const single = !fn.returnsSet && plan.media.kind !== 'csv';
  const body = bodyAggregate(single ? { ...plan.media, kind: 'object' } : plan.media, 'pgrst_source', parts.names, params);
  const sql = `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (${main}) as pgrst_source`;
  if (!plan.count || plan.media.plan) return { main: { sql, values: params.values } };
  const countParams = new Params();
  const countFrom = callFrom(fn, args, countParams, alias);
  const countParts = new SelectSql(model, countParams, tree).build({ columns: false, order: false });
  const count = { sql: selectStatement(countFrom, { ...countParts, columns: ['1'] }, countParams, { limit: undefined, offset: 0 }), values: countParams.values };
  return { main: { sql, values: params.values }, count };
}
