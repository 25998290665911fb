/**
 * SQL of a mutate plan: the data-modifying statement in a CTE (`pgrst_source`), and over it the
 * row count, the representation (the plan's read tree rendered over the changed rows), the
 * Location key and the count of real inserts of an upsert.
 */
import { bodyAggregate } from '../media.ts';
import type { Relation, RestModel } from '../model.ts';
import type { MutatePlan } from '../plan/mutate.ts';
import { rootTree } from '../plan/read-tree.ts';
import type { Payload } from '../payload.ts';
import { ident, Params, qualified } from '../sql.ts';
import { SelectSql, selectStatement } from './select.ts';
import { RESULT_COLUMNS, type Statements } from './statement.ts';

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

/** The PATCH body as one row of the relation (missing=default: the columns' defaults under it). */
function updateSource(rel: Relation, cols: string[], payload: Payload, params: Params, missingDefault: boolean): string {
  const rowType = qualified(rel.schema, rel.name);
  const body = params.add(payload.json);
  const defaults = missingDefault ? defaultsObject(rel, cols, params) : undefined;
  return defaults
    ? `jsonb_populate_record(null::${rowType}, ${defaults} || (${body}::jsonb->0))`
    : `json_populate_record(null::${rowType}, ${body}::json->0)`;
}

function returningList(plan: MutatePlan, alias: string): string {
  if (plan.returned === '*') return `${ident(alias)}.*`;
  return plan.returned.length ? plan.returned.map((c) => `${ident(alias)}.${ident(c)}`).join(', ') : '1 as pgrst_one';
}

function insertStatement(plan: MutatePlan, params: Params): string {
  const { rel, columns: cols } = plan;
  const target = `${qualified(rel.schema, rel.name)} as ${ident(rel.name)}`;
  let statement = cols.length
    ? `insert into ${target} (${cols.map(ident).join(', ')}) ${payloadSelect(rel, cols, plan.payload!, params, plan.missingDefault)}`
    : `insert into ${target} select from json_array_elements(${params.add(plan.payload!.json)}::json)`;
  if (plan.conflict) {
    const keys = plan.conflict.columns;
    let updates = cols.filter((c) => !keys.includes(c)).map((c) => `${ident(c)} = excluded.${ident(c)}`);
    // Only key columns: "update" the key to itself so existing rows are returned too.
    if (updates.length === 0) updates = keys.map((c) => `${ident(c)} = excluded.${ident(c)}`);
    const action = plan.conflict.resolution === 'ignore-duplicates' ? 'do nothing' : `do update set ${updates.join(', ')}`;
    statement += ` on conflict (${keys.map(ident).join(', ')}) ${action}`;
  }
  return `${statement} returning ${returningList(plan, rel.name)}${plan.trackInserts ? `, (xmax = 0) as pgrst_was_inserted` : ''}`;
}

function updateStatement(model: RestModel, plan: MutatePlan, params: Params): string {
  const { rel, columns: cols } = plan;
  const alias = rel.name;
  const where = new SelectSql(model, params, rootTree(rel, alias, plan.query)).rootConditions();
  const target = `${qualified(rel.schema, rel.name)} as ${ident(alias)}`;
  const whereSql = where.length ? ` where ${where.join(' and ')}` : '';
  if (!cols.length) return `select ${ident(alias)}.* from ${target}${whereSql} limit 0`;
  const source = updateSource(rel, cols, plan.payload!, params, plan.missingDefault);
  return `update ${target} set (${cols.map(ident).join(', ')}) = (select ${cols.map((c) => `pgrst_body.${ident(c)}`).join(', ')} from ${source} as pgrst_body)${whereSql} returning ${returningList(plan, alias)}`;
}

function deleteStatement(model: RestModel, plan: MutatePlan, params: Params): string {
  const { rel } = plan;
  const alias = rel.name;
  const where = new SelectSql(model, params, rootTree(rel, alias, plan.query)).rootConditions();
  return `delete from ${qualified(rel.schema, rel.name)} as ${ident(alias)}${where.length ? ` where ${where.join(' and ')}` : ''} returning ${returningList(plan, alias)}`;
}

/** `json_build_array(pk1::text, …)::text` over the inserted row, for the Location header. */
function locationExpr(rel: Relation): string {
  return `json_build_array(${rel.pk.map((c) => `${ident('pgrst_source')}.${ident(c)}::text`).join(', ')})::text`;
}

export function mutateStatements(model: RestModel, plan: MutatePlan): Statements {
  const params = new Params();
  const statement = plan.action === 'insert' ? insertStatement(plan, params) : plan.action === 'update' ? updateStatement(model, plan, params) : deleteStatement(model, plan, params);
  let repr = `'' as body`;
  if (plan.representation) {
    const { tree, media } = plan.representation;
    const parts = new SelectSql(model, params, tree, { rowIsRecord: true }).build({ filters: false });
    const shaped = selectStatement(`pgrst_source as ${ident(tree.alias)}`, parts, params, { limit: undefined, offset: 0 });
    repr = `(select ${bodyAggregate(media, 'pgrst_repr', parts.names, params)} from (${shaped}) as pgrst_repr) as body`;
  }
  const extras = [
    plan.location ? `(select ${locationExpr(plan.rel)} from pgrst_source limit 1) as pgrst_location` : '',
    plan.trackInserts ? `(select count(*) filter (where pgrst_was_inserted) from pgrst_source) as pgrst_inserted` : '',
  ]
    .filter(Boolean)
    .map((x) => `, ${x}`)
    .join('');
  const sql = `with pgrst_source as (${statement}) select (select count(*) from pgrst_source) as page_total, ${repr}${extras}, ${RESULT_COLUMNS}`;
  return { main: { sql, values: params.values } };
}
