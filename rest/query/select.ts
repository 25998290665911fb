/**
 * SQL of a read tree (rest/plan/read-tree.ts): the root relation with one LATERAL subquery per
 * embedded resource, rendered recursively, so Postgres builds the whole JSON body (docs/postgrest.md
 * §12). Every identifier comes from the model; every value is a bind parameter. The tree is only
 * read here: relationships were resolved by the plan.
 */
import type { Field, Filter, LogicTree, OrderTerm, SelectItem } from '../ast.ts';
import { ERRORS, RestError } from '../errors.ts';
import type { Column, Relation, RestModel } from '../model.ts';
import { capRows } from '../plan/read.ts';
import { Aliases, findEmbed, type EmbedNode, type ReadTree } from '../plan/read-tree.ts';
import { arrayLiteral, ident, Params, qualified, typeSql } from '../sql.ts';

export interface SelectParts {
  columns: string[];
  /** Output keys, in order (CSV header, spreads). */
  names: string[];
  /** With aggregates in the select list: the plain (non-aggregated) expressions to group by. */
  groupBy: string[];
  joins: string[];
  where: string[];
  orderBy: string[];
  limit?: number;
  offset?: number;
}

const COMPARISON: Record<string, string> = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=', like: 'like', ilike: 'ilike', match: '~', imatch: '~*' };
const GEOMETRIC: Record<string, string> = { cs: '@>', cd: '<@', ov: '&&', sl: '<<', sr: '>>', nxr: '&<', nxl: '&>', adj: '-|-' };
const FTS: Record<string, string> = { fts: 'to_tsquery', plfts: 'plainto_tsquery', phfts: 'phraseto_tsquery', wfts: 'websearch_to_tsquery' };
const IS: Record<string, string> = { null: 'is null', not_null: 'is not null', true: 'is true', false: 'is false', unknown: 'is unknown' };

function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The output key of a select item (§1.4): alias, else last JSON key, else the column name. */
export function outputName(field: Field, alias?: string): string {
  if (alias) return alias;
  for (let i = field.jsonPath.length - 1; i >= 0; i--) {
    const key = field.jsonPath[i].key;
    if (typeof key === 'string') return key;
  }
  return field.name;
}

const isJson = (c: Column) => c.type.schema === 'pg_catalog' && (c.type.name === 'json' || c.type.name === 'jsonb');

/** Renders one read tree; a count query and the body are two renderings of the same tree. */
export class SelectSql {
  readonly model: RestModel;
  readonly params: Params;
  private readonly tree: ReadTree;
  private readonly aliases: Aliases;
  /** `db-max-rows`: every embed (and, through the callers, every read's root) returns at most this many rows. */
  readonly maxRows: number | undefined;
  /** Whether the root alias's whole-row reference is not of its relation's row type (a mutation's CTE). */
  private readonly rootIsRecord: boolean;
  /** Embed aliases → the name PostgREST's SQL gives that embed, for error messages. */
  private readonly errorNames = new Map<string, string>();

  constructor(model: RestModel, params: Params, tree: ReadTree, opts: { maxRows?: number; rowIsRecord?: boolean } = {}) {
    this.model = model;
    this.params = params;
    this.tree = tree;
    this.aliases = new Aliases(tree.aliases);
    this.maxRows = opts.maxRows;
    this.rootIsRecord = opts.rowIsRecord ?? false;
    const walk = (nodes: EmbedNode[]) => nodes.forEach((n) => (this.errorNames.set(n.alias, n.errorName), walk(n.children)));
    walk(tree.embeds);
  }

  private get query() {
    return this.tree.query;
  }

  /** The row of `rel` under `alias` as a value of the relation's type, for a computed relationship's function. */
  private rowValue(rel: Relation, alias: string): string {
    const type = qualified(rel.schema, rel.name);
    if (!(this.rootIsRecord && alias === this.tree.alias)) return `${ident(alias)}::${type}`;
    return `row(${rel.columns.map((c) => `${ident(alias)}.${ident(c.name)}`).join(', ')})::${type}`;
  }

  /** Items addressed to `path` (paths are canonical in the tree). */
  private at<T>(list: { path: string[]; value: T }[], path: string[]): T[] {
    return list.filter((x) => samePath(x.path, path)).map((x) => x.value);
  }

  // ---------------------------------------------------------------- expressions

  /** A column of `rel`; an unknown one is Postgres's 42703 naming the table as PostgREST's SQL does (`messages_1` in an embed). */
  column(rel: Relation, name: string, alias?: string): Column {
    const col = rel.columnsByName.get(name);
    if (!col) throw new RestError(400, '42703', `column ${(alias && this.errorNames.get(alias)) ?? rel.name}.${name} does not exist`);
    return col;
  }

  /** `alias."col"->$1->>$2` with JSON paths; non-JSON columns go through to_jsonb(). */
  fieldSql(rel: Relation, alias: string, field: Field): string {
    const col = rel.columnsByName.get(field.name);
    let base: string;
    if (col) base = `${ident(alias)}.${ident(col.name)}`;
    else {
      const computed = this.computedColumn(rel, field.name);
      if (!computed) this.column(rel, field.name, alias);
      base = `${computed}(${this.rowValue(rel, alias)})`;
    }
    if (field.jsonPath.length === 0) return base;
    let sql = col && isJson(col) ? base : `to_jsonb(${base})`;
    for (const step of field.jsonPath) {
      const key = typeof step.key === 'number' ? `${this.params.add(String(step.key))}::int` : `${this.params.add(step.key)}::text`;
      sql = `${sql}${step.arrow}${key}`;
    }
    return sql;
  }

  /** A function `f(rel_row_type)` in the relation's schema acts as a computed column (§1.4). */
  private computedColumn(rel: Relation, name: string): string | undefined {
    const fn = this.model
      .functions(rel.schema, name)
      .find((f) => f.args.length >= 1 && f.requiredCount <= 1 && f.args[0].type.schema === rel.schema && f.args[0].type.name === rel.name && !f.returnsSet);
    return fn ? qualified(fn.schema, fn.name) : undefined;
  }

  cast(sql: string, type: string | undefined): string {
    if (!type) return sql;
    const ref = this.model.castType(type);
    if (!ref) throw new RestError(400, '42704', `type "${type}" does not exist`);
    return `cast(${sql} as ${typeSql(ref)})`;
  }

  filterSql(rel: Relation, alias: string, f: Filter): string {
    const lhs = this.fieldSql(rel, alias, f.field);
    const value = f.value;
    let sql: string;
    if (f.op === 'is') {
      sql = `${lhs} ${IS[value as string]}`;
    } else if (f.op === 'in') {
      sql = `${lhs} = any(${this.params.add(arrayLiteral(value as string[]))})`;
    } else if (f.op === 'isdistinct') {
      sql = `${lhs} is distinct from ${this.params.add(value)}`;
    } else if (f.op in FTS) {
      const col = rel.columnsByName.get(f.field.name);
      const isTsvector = f.field.jsonPath.length === 0 && col?.type.name === 'tsvector';
      const lang = f.language ? `${this.params.add(f.language)}::regconfig, ` : '';
      const target = isTsvector ? lhs : `to_tsvector(${lang}${lhs})`;
      sql = `${target} @@ ${FTS[f.op]}(${lang}${this.params.add(value)})`;
    } else if (f.op in GEOMETRIC) {
      sql = `${lhs} ${GEOMETRIC[f.op]} ${this.params.add(value)}`;
    } else if (f.quantifier) {
      sql = `${lhs} ${COMPARISON[f.op]} ${f.quantifier}(${this.params.add(value)})`;
    } else {
      sql = `${lhs} ${COMPARISON[f.op]} ${this.params.add(value)}`;
    }
    return f.negated ? `not (${sql})` : sql;
  }

  /** A filter on an embed itself (`clients=not.is.null`) tests the join's result. */
  private embedNullFilter(embeds: EmbedNode[], f: Filter): string | undefined {
    if (f.op !== 'is' || f.field.jsonPath.length > 0 || (f.value !== 'null' && f.value !== 'not_null')) return undefined;
    const node = findEmbed(embeds, f.field.name);
    if (!node) return undefined;
    const isNull = (f.value === 'null') !== f.negated;
    return `${ident(node.joinAlias)}.${ident('body')} ${isNull ? 'is null' : 'is not null'}`;
  }

  private conditionSql(rel: Relation, alias: string, embeds: EmbedNode[], c: Filter | LogicTree): string {
    if ('type' in c && c.type === 'logic') {
      const parts = c.conditions.map((x) => this.conditionSql(rel, alias, embeds, x));
      const joined = parts.length ? `(${parts.join(c.operator === 'and' ? ' and ' : ' or ')})` : c.operator === 'and' ? 'true' : 'false';
      return c.negated ? `not ${joined}` : joined;
    }
    const f = c as Filter;
    return this.embedNullFilter(embeds, f) ?? this.filterSql(rel, alias, f);
  }

  private orderSql(rel: Relation, alias: string, embeds: EmbedNode[], term: OrderTerm): string {
    let expr: string;
    if (term.relation !== undefined) {
      const node = findEmbed(embeds, term.relation);
      if (!node) throw ERRORS.notEmbedded(term.relation);
      if (!node.toOne || node.item.spread) throw ERRORS.relatedOrder(rel.name, term.relation);
      const target = node.relationship.to;
      this.column(target, term.field.name, node.alias);
      expr = `${ident(node.joinAlias)}.${ident('body')}->${this.params.add(term.field.name)}::text`;
      for (const step of term.field.jsonPath) {
        const key = typeof step.key === 'number' ? `${this.params.add(String(step.key))}::int` : `${this.params.add(step.key)}::text`;
        expr = `${expr}${step.arrow}${key}`;
      }
    } else {
      expr = this.fieldSql(rel, alias, term.field);
    }
    const dir = term.direction ? ` ${term.direction}` : '';
    const nulls = term.nulls ? ` nulls ${term.nulls}` : '';
    return `${expr}${dir}${nulls}`;
  }

  // ---------------------------------------------------------------- select lists

  /** Columns, output names and lateral joins for `items` over `rel` aliased `alias`. */
  private selectList(rel: Relation, alias: string, items: SelectItem[], embeds: EmbedNode[], withColumns = true): Pick<SelectParts, 'columns' | 'names' | 'joins' | 'groupBy'> & { aggregated: boolean } {
    const columns: string[] = [];
    const names: string[] = [];
    const joins: string[] = [];
    /** Plain expressions (grouped when an aggregate is present). */
    const plain: string[] = [];
    let aggregated = false;
    let embedIndex = 0;
    const add = (expr: string, name: string, isAggregate = false) => {
      columns.push(`${expr} as ${ident(name)}`);
      names.push(name);
      if (isAggregate) aggregated = true;
      else plain.push(expr);
    };
    for (const item of items) {
      if (!withColumns && item.type !== 'embed') continue;
      switch (item.type) {
        case 'star':
          for (const c of rel.columns) add(`${ident(alias)}.${ident(c.name)}`, c.name);
          break;
        case 'count':
          add(this.cast('count(*)', item.cast), item.alias ?? 'count', true);
          break;
        case 'field': {
          // `select=count` / `embed(count)` without a column of that name: PostgREST's count.
          if (!item.aggregate && item.field.name === 'count' && !rel.columnsByName.has('count') && item.field.jsonPath.length === 0 && !this.computedColumn(rel, 'count')) {
            add(this.cast('count(*)', item.cast), outputName(item.field, item.alias), true);
            break;
          }
          const expr = this.cast(this.fieldSql(rel, alias, item.field), item.cast);
          if (item.aggregate) add(this.cast(`${item.aggregate.fn}(${expr})`, item.aggregate.cast), item.alias ?? item.aggregate.fn, true);
          else add(expr, outputName(item.field, item.alias));
          break;
        }
        case 'embed': {
          const node = embeds[embedIndex++];
          const sub = this.embedSubquery(node, alias);
          joins.push(sub.join);
          if (withColumns) {
            sub.columns.forEach((c, i) => add(c, sub.names[i]));
          }
          break;
        }
      }
    }
    return { columns, names, joins, groupBy: aggregated ? plain : [], aggregated };
  }

  /** The LATERAL join for one embed, and what the parent selects from it. */
  private embedSubquery(node: EmbedNode, parentAlias: string): { join: string; columns: string[]; names: string[] } {
    const r = node.relationship;
    const target = r.to;
    const a = node.alias;
    const childEmbeds = node.children;
    const list = this.selectList(target, a, node.item.select, childEmbeds);
    const where: string[] = [];
    let from = `${qualified(target.schema, target.name)} as ${ident(a)}`;
    if (r.computed) {
      from = `${qualified(r.computed.schema, r.computed.name)}(${this.rowValue(r.from, parentAlias)}) as ${ident(a)}`;
    } else if (r.junction) {
      const j = this.aliases.fresh(`${r.junction.relation.name}_junction`);
      const on = r.junction.junctionToColumns.map((jc, i) => `${ident(j)}.${ident(jc)} = ${ident(a)}.${ident(r.junction!.toColumns[i])}`);
      from += ` join ${qualified(r.junction.relation.schema, r.junction.relation.name)} as ${ident(j)} on ${on.join(' and ')}`;
      r.junction.junctionFromColumns.forEach((jc, i) => where.push(`${ident(j)}.${ident(jc)} = ${ident(parentAlias)}.${ident(r.junction!.fromColumns[i])}`));
    } else {
      r.toColumns.forEach((tc, i) => where.push(`${ident(a)}.${ident(tc)} = ${ident(parentAlias)}.${ident(r.fromColumns[i])}`));
    }
    where.push(...this.conditions(target, a, node.path, childEmbeds));
    const order = this.at(this.query.order, node.path).flat().map((t) => this.orderSql(target, a, childEmbeds, t));
    const limit = capRows(this.at(this.query.limits, node.path).at(-1), this.maxRows);
    const offset = this.at(this.query.offsets, node.path).at(-1);
    const inner = [
      `select ${list.columns.length ? list.columns.join(', ') : 'null as "pgrst_empty"'}`,
      `from ${from}`,
      ...list.joins,
      where.length ? `where ${where.join(' and ')}` : '',
      list.groupBy.length ? `group by ${list.groupBy.join(', ')}` : '',
      order.length ? `order by ${order.join(', ')}` : '',
      limit !== undefined ? `limit ${this.params.add(String(limit))}::bigint` : '',
      offset !== undefined ? `offset ${this.params.add(String(offset))}::bigint` : '',
    ].filter(Boolean).join(' ');

    const key = node.item.alias ?? node.item.name;
    const j = ident(node.joinAlias);
    const body = `${j}.${ident('body')}`;
    const inner_ = node.item.joinType === 'inner';
    const emptySelect = list.columns.length === 0;

    if (node.item.spread) {
      if (node.toOne) {
        const cols = list.names.map((n) => `${ident('pgrst_x')}.${ident(n)}`);
        const sql = `${inner_ ? 'inner' : 'left'} join lateral (select ${[...cols, 'true as "body"'].join(', ')} from (${inner}) as "pgrst_x") as ${j} on true`;
        return { join: sql, columns: list.names.map((n) => `${j}.${ident(n)}`), names: list.names };
      }
      if (list.aggregated) throw ERRORS.notImplemented('Aggregates are not implemented for one-to-many or many-to-many spreads.');
      const aggs = list.names.map((n) => `json_agg(${ident('pgrst_x')}.${ident(n)}) as ${ident(n)}`);
      const sql = `${inner_ ? 'inner' : 'left'} join lateral (select ${[...aggs, 'nullif(count(*), 0) as "body"'].join(', ')} from (${inner}) as "pgrst_x") as ${j} on ${inner_ ? `${body} is not null` : 'true'}`;
      return { join: sql, columns: list.names.map((n) => `coalesce(${j}.${ident(n)}, '[]')`), names: list.names };
    }
    if (node.toOne) {
      const sql = `${inner_ ? 'inner' : 'left'} join lateral (select row_to_json("pgrst_x")::jsonb as "body" from (${inner}) as "pgrst_x") as ${j} on true`;
      return emptySelect ? { join: sql, columns: [], names: [] } : { join: sql, columns: [body], names: [key] };
    }
    const sql = `${inner_ ? 'inner' : 'left'} join lateral (select json_agg("pgrst_x")::jsonb as "body" from (${inner}) as "pgrst_x") as ${j} on ${inner_ ? `${body} is not null` : 'true'}`;
    return emptySelect ? { join: sql, columns: [], names: [] } : { join: sql, columns: [`coalesce(${body}, '[]'::jsonb)`], names: [key] };
  }

  /** Filters and logic trees addressed to `path`, as SQL conditions over `rel` aliased `alias`. */
  private conditions(rel: Relation, alias: string, path: string[], embeds: EmbedNode[]): string[] {
    const out = this.at(this.query.filters, path).map((f) => this.embedNullFilter(embeds, f) ?? this.filterSql(rel, alias, f));
    for (const tree of this.at(this.query.logic, path)) out.push(this.conditionSql(rel, alias, embeds, tree));
    return out;
  }

  /**
   * Everything of the root level: select list and lateral joins, root filters, order, limit and
   * offset. Parts a statement will not use are not rendered (their bind parameters would be
   * unused, which Postgres refuses): `columns: false` for count queries, `filters: false` for the
   * representation of a mutation.
   */
  build(opts: { columns?: boolean; filters?: boolean; order?: boolean } = {}): SelectParts {
    const { columns = true, filters = true, order = true } = opts;
    const { rel, alias, embeds } = this.tree;
    const { aggregated: _aggregated, ...list } = this.selectList(rel, alias, this.query.select, embeds, columns);
    return {
      ...list,
      where: filters ? this.conditions(rel, alias, [], embeds) : [],
      orderBy: order ? this.at(this.query.order, []).flat().map((t) => this.orderSql(rel, alias, embeds, t)) : [],
      limit: this.at(this.query.limits, []).at(-1),
      offset: this.at(this.query.offsets, []).at(-1),
    };
  }

  /** Root filters only (PATCH/DELETE targets), with no embeds. */
  rootConditions(): string[] {
    return this.conditions(this.tree.rel, this.tree.alias, [], []);
  }
}

/**
 * `select … from … joins where … order by … limit … offset …` from parts; `range`, when given,
 * replaces the parts' own limit and offset (undefined: none).
 */
export function selectStatement(from: string, parts: SelectParts, params: Params, range?: { limit?: number; offset?: number }): string {
  const limit = range ? range.limit : parts.limit;
  const offset = range ? range.offset : parts.offset;
  return [
    `select ${parts.columns.length ? parts.columns.join(', ') : 'null as "pgrst_empty"'}`,
    `from ${from}`,
    ...parts.joins,
    parts.where.length ? `where ${parts.where.join(' and ')}` : '',
    parts.groupBy.length ? `group by ${parts.groupBy.join(', ')}` : '',
    parts.orderBy.length ? `order by ${parts.orderBy.join(', ')}` : '',
    limit !== undefined ? `limit ${params.add(String(limit))}::bigint` : '',
    offset ? `offset ${params.add(String(offset))}::bigint` : '',
  ].filter(Boolean).join(' ');
}
