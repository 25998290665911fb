/**
 * SQL of a read plan: the page of the relation with its embeds, aggregated into the body by
 * Postgres, and — with `Prefer: count=` — the statement whose rows are counted (the same tree
 * rendered without its select list, order or page).
 */
import { bodyAggregate } from '../media.ts';
import type { RestModel } from '../model.ts';
import type { ReadPlan } from '../plan/read.ts';
import { ident, Params, qualified } from '../sql.ts';
import { SelectSql, selectStatement } from './select.ts';
import { RESULT_COLUMNS, type Statements } from './statement.ts';

export function readStatements(model: RestModel, plan: ReadPlan, maxRows: number | undefined): Statements {
  const { rel, alias } = plan.tree;
  const from = `${qualified(rel.schema, rel.name)} as ${ident(alias)}`;
  const params = new Params();
  const parts = new SelectSql(model, params, plan.tree, { maxRows }).build();
  const main = selectStatement(from, parts, params, { limit: plan.limit, offset: plan.offset });
  const body = bodyAggregate(plan.media, 'pgrst_source', parts.names, params);
  const sql = `select count(*) as page_total, ${body} as body, ${RESULT_COLUMNS} from (${main}) as pgrst_source`;
  if (!plan.count || plan.media.plan) return { main: { sql, values: params.values } };
  const countParams = new Params();
  const countParts = new SelectSql(model, countParams, plan.tree).build({ columns: false, order: false });
  const countSql = selectStatement(from, { ...countParts, columns: ['1'] }, countParams, { limit: undefined, offset: 0 });
  return { main: { sql, values: params.values }, count: { sql: countSql, values: countParams.values, maxRows } };
}
