/**
 * Builds the REST model from the catalog: relations, relationships in both directions
 * (many-to-one / one-to-one from each foreign key and the inverse one-to-many / one-to-one,
 * many-to-many through junction tables whose primary key covers both foreign keys), callable
 * functions, and the type names casts may use.
 */
import type { Catalog, CatalogType } from '../db/catalog.ts';
import type { Column, FunctionArg, Relation, Relationship, RestFunction, RestModel, TypeRef } from './model.ts';

const RELKIND: Record<string, Relation['kind']> = { r: 'table', p: 'partitioned_table', v: 'view', m: 'materialized_view', f: 'foreign_table' };

/** SQL spellings of built-in types (as written in `::cast`) → pg_catalog internal names. */
const TYPE_ALIASES: Record<string, string> = {
  integer: 'int4', int: 'int4', smallint: 'int2', bigint: 'int8', real: 'float4', float: 'float8',
  'double precision': 'float8', boolean: 'bool', decimal: 'numeric', 'character varying': 'varchar',
  character: 'bpchar', char: 'bpchar', timestamp: 'timestamp', 'timestamp without time zone': 'timestamp',
  'timestamp with time zone': 'timestamptz', 'time without time zone': 'time', 'time with time zone': 'timetz',
};

function typeRef(t: CatalogType): TypeRef {
  return { schema: t.schema, name: t.name, kind: t.kind, display: t.display, element: t.element ? { ...t.element } : undefined };
}

/** The types a single unnamed argument may have to receive the whole request body (PostgREST). */
const RAW_BODY_TYPES = new Set(['json', 'jsonb', 'text', 'xml', 'bytea']);

/**
 * A type as PostgREST's schema cache names it (`regtype::text` under an empty search_path):
 * built-in types bare (`integer`), others schema-qualified (`public.users`).
 */
export function routineTypeName(t: TypeRef): string {
  const shown = t.display ?? t.name;
  if (t.schema === 'pg_catalog') return shown;
  const schema = /^[a-z_][a-z0-9_$]*$/.test(t.schema) ? t.schema : `"${t.schema.replace(/"/g, '""')}"`;
  return shown.startsWith(`${schema}.`) ? shown : `${schema}.${shown}`;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * PostgREST's order of overloads (its `Ord Routine`): fewer arguments first, then by description
 * (none first), then argument by argument (name, type, optional before required, variadic last).
 */
function compareRoutines(a: RestFunction, b: RestFunction): number {
  if (a.args.length !== b.args.length) return a.args.length - b.args.length;
  if (a.description !== b.description) {
    if (a.description === undefined) return -1;
    if (b.description === undefined) return 1;
    return compareText(a.description, b.description);
  }
  for (let i = 0; i < a.args.length; i++) {
    const x = a.args[i];
    const y = b.args[i];
    const c = compareText(x.name, y.name) || compareText(routineTypeName(x.type), routineTypeName(y.type)) ||
      Number(!x.hasDefault) - Number(!y.hasDefault) || Number(x.variadic) - Number(y.variadic);
    if (c) return c;
  }
  return 0;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000');

interface Exposure {
  rel: Relation;
  /** Table column → the relation's column showing it. */
  map: Map<string, string>;
  /** The table itself (identity map). */
  self: boolean;
}

/** For each table (by oid): the exposed relations showing its columns — itself and views over it. */
function viewExposures(catalog: Catalog, byOid: Map<string, Relation>): Map<string, Exposure[]> {
  const out = new Map<string, Exposure[]>();
  const push = (base: string, e: Exposure) => (out.get(base) ?? out.set(base, []).get(base)!).push(e);
  for (const [oid, rel] of byOid) {
    if (rel.kind === 'view' || rel.kind === 'materialized_view') continue;
    push(String(oid), { rel, map: new Map(rel.columns.map((c) => [c.name, c.name])), self: true });
  }
  const byView = new Map<string, Map<string, Map<string, string>>>();
  for (const v of catalog.viewColumns) {
    const bases = byView.get(String(v.viewOid)) ?? byView.set(String(v.viewOid), new Map()).get(String(v.viewOid))!;
    const map = bases.get(String(v.baseOid)) ?? bases.set(String(v.baseOid), new Map()).get(String(v.baseOid))!;
    if (!map.has(v.baseColumn)) map.set(v.baseColumn, v.column);
  }
  for (const [viewOid, bases] of byView) {
    const rel = byOid.get(viewOid);
    if (!rel) continue;
    for (const [base, map] of bases) push(base, { rel, map, self: false });
  }
  return out;
}

interface Relations {
  byOid: Map<string, Relation>;
  /** Each relation's unique column sets, its primary key first. */
  uniques: Map<Relation, string[][]>;
  bySchema: Map<string, Map<string, Relation>>;
}

/** The relations of the catalog, by oid and by schema and name. */
function relationsOf(catalog: Catalog): Relations {
  const byOid = new Map<string, Relation>() // oids arrive as JSON strings;
  const uniques = new Map<Relation, string[][]>();
  const bySchema = new Map<string, Map<string, Relation>>();
  for (const r of catalog.relations) {
    const columns: Column[] = r.columns.map((c) => ({
      name: c.name,
      type: typeRef(c.type),
      nullable: c.nullable,
      defaultExpr: c.default ?? undefined,
      generatedAlways: c.generatedAlways,
    }));
    const rel: Relation = {
      schema: r.schema,
      name: r.name,
      kind: RELKIND[r.relkind],
      columns,
      columnsByName: new Map(columns.map((c) => [c.name, c])),
      pk: r.pk,
      insertable: (r.updatableBits & 8) !== 0,
      updatable: (r.updatableBits & 4) !== 0,
      deletable: (r.updatableBits & 16) !== 0,
    };
    byOid.set(String(r.oid), rel);
    uniques.set(rel, r.pk.length ? [r.pk, ...r.uniques] : r.uniques);
    (bySchema.get(r.schema) ?? bySchema.set(r.schema, new Map()).get(r.schema)!).set(r.name, rel);
  }
  return { byOid, uniques, bySchema };
}

/**
 * Views show columns of tables: each exposed relation that shows a table's columns, with the
 * table column → relation column map (a table shows itself). A view inherits the primary key
 * and foreign keys of a table whose key columns it shows, as in PostgREST.
 */
function inheritViewKeys(catalog: Catalog, { byOid, uniques }: Relations, exposures: ReturnType<typeof viewExposures>): void {
  const basePk = new Map<string, string[]>(catalog.basePrimaryKeys.map((k) => [String(k.oid), k.columns]));
  for (const r of catalog.relations) {
    const rel = byOid.get(String(r.oid))!;
    if (rel.kind !== 'view' && rel.kind !== 'materialized_view') continue;
    const keyed = [...exposures].flatMap(([base, list]) => list.filter((e) => e.rel === rel).map((e) => ({ base, map: e.map })))
      .map(({ base, map }) => (basePk.get(base) ?? []).length && basePk.get(base)!.every((c) => map.has(c)) ? basePk.get(base)!.map((c) => map.get(c)!) : undefined)
      .filter((pk) => pk !== undefined);
    if (keyed.length === 1) {
      rel.pk = [...keyed[0]].sort();
      uniques.set(rel, [rel.pk]);
    }
  }
}

type FkEdge = { name: string; to: Relation; fromColumns: string[]; toColumns: string[] };
type AddRelationship = (r: Relationship) => void;

/** Foreign keys, both ways, between every pair of relations that show their columns. */
function foreignKeyRelationships(catalog: Catalog, { uniques }: Relations, exposures: ReturnType<typeof viewExposures>, add: AddRelationship): Map<Relation, FkEdge[]> {
  const fksByTable = new Map<Relation, FkEdge[]>();
  for (const fk of catalog.foreignKeys) {
    for (const fromSide of exposures.get(String(fk.fromOid)) ?? []) {
      for (const toSide of exposures.get(String(fk.toOid)) ?? []) {
        if (!fk.fromColumns.every((c) => fromSide.map.has(c)) || !fk.toColumns.every((c) => toSide.map.has(c))) continue;
        const from = fromSide.rel;
        const to = toSide.rel;
        const fromColumns = fk.fromColumns.map((c) => fromSide.map.get(c)!);
        const toColumns = fk.toColumns.map((c) => toSide.map.get(c)!);
        const oneToOne = (uniques.get(from) ?? []).some((u) => sameSet(u, fromColumns));
        add({ cardinality: oneToOne ? 'one-to-one' : 'many-to-one', from, to, constraint: fk.name, fromColumns, toColumns });
        add({ cardinality: oneToOne ? 'one-to-one' : 'one-to-many', from: to, to: from, constraint: fk.name, fromColumns: toColumns, toColumns: fromColumns, inverse: true });
        // Junctions for many-to-many are tables (a view junction is not traced).
        if (fromSide.self && toSide.self) (fksByTable.get(from) ?? fksByTable.set(from, []).get(from)!).push({ name: fk.name, to, fromColumns, toColumns });
      }
    }
  }
  return fksByTable;
}

/** Many-to-many: a junction with two foreign keys whose columns are all part of its primary key. */
function manyToManyRelationships(fksByTable: Map<Relation, FkEdge[]>, add: AddRelationship): void {
  for (const [junction, fks] of fksByTable) {
    const pk = new Set(junction.pk);
    const candidates = fks.filter((f) => f.fromColumns.every((c) => pk.has(c)));
    for (const a of candidates) {
      for (const b of candidates) {
        if (a === b) continue;
        add({
          cardinality: 'many-to-many',
          from: a.to,
          to: b.to,
          constraint: a.name,
          fromColumns: a.toColumns,
          toColumns: b.toColumns,
          junction: {
            relation: junction,
            fromConstraint: a.name,
            junctionFromColumns: a.fromColumns,
            fromColumns: a.toColumns,
            toConstraint: b.name,
            junctionToColumns: b.fromColumns,
            toColumns: b.toColumns,
          },
        });
      }
    }
  }
}

/**
 * Computed relationships (PostgREST v12+): `f(from_row) returns [setof] to` embeds as `f(*)`. One
 * named like a related table of `from` (same schema and name) replaces the foreign-key
 * relationships to that table, as PostgREST lets them override detected ones.
 */
function computedRelationships(catalog: Catalog, { byOid }: Relations, rels: Map<Relation, Relationship[]>, add: AddRelationship): void {
  for (const c of catalog.computedRelationships) {
    const from = byOid.get(String(c.fromOid));
    const to = byOid.get(String(c.toOid));
    if (!from || !to) continue;
    const existing = rels.get(from) ?? [];
    rels.set(from, existing.filter((r) => r.computed || r.to.schema !== c.schema || r.to.name !== c.name));
    add({
      // Not a foreign key: to-one-ness is `computed.toOne` (isToOne), and generated types list
      // only foreign keys as relationships.
      cardinality: 'one-to-many',
      from,
      to,
      constraint: c.name,
      fromColumns: [],
      toColumns: [],
      computed: { schema: c.schema, name: c.name, toOne: c.singleRow },
    });
  }
}

/** The functions /rpc can call and the computed columns, by schema and name, overloads in PostgREST's order. */
function functionsOf(catalog: Catalog, { byOid }: Relations): Map<string, RestFunction[]> {
  const functions = new Map<string, RestFunction[]>();
  for (const f of catalog.functions) {
    const inArgs = f.args.filter((a) => a.mode === 'i' || a.mode === 'b' || a.mode === 'v');
    const unnamed = inArgs.filter((a) => a.name === '');
    const singleRaw = inArgs.length === 1 && unnamed.length === 1 && inArgs[0].type.schema === 'pg_catalog' && RAW_BODY_TYPES.has(inArgs[0].type.name);
    // As PostgREST's schema cache: callable by /rpc when no argument is unnamed, when only some are
    // (the named ones are passed by name), or when the only argument is an unnamed raw-body type.
    const callable = unnamed.length < inArgs.length || inArgs.length === 0 || singleRaw;
    // `f(table_row)` is a computed column of that table (select=id,f), even with an unnamed arg.
    const computed = inArgs.length >= 1 && inArgs[0].type.kind === 'c' && inArgs.slice(1).every((a) => a.hasDefault);
    if (!callable && !computed) continue;
    const args: FunctionArg[] = inArgs.map((a) => ({ name: a.name, type: typeRef(a.type), hasDefault: a.hasDefault, variadic: a.mode === 'v' }));
    const outArgs = f.args.filter((a) => a.mode === 'o' || a.mode === 'b' || a.mode === 't');
    const returnRelation = f.returnRelationOid ? byOid.get(String(f.returnRelationOid)) : undefined;
    const composite = f.returnType.kind === 'c' || f.returnType.name === 'record' || outArgs.length > 1 || f.args.some((a) => a.mode === 't');
    let relation = returnRelation;
    if (!relation && outArgs.length && composite) {
      const columns: Column[] = outArgs.map((a) => ({ name: a.name, type: typeRef(a.type), nullable: true, generatedAlways: false }));
      relation = { schema: f.schema, name: f.name, kind: 'view', columns, columnsByName: new Map(columns.map((c) => [c.name, c])), pk: [], insertable: false, updatable: false, deletable: false };
    }
    const fn: RestFunction = {
      schema: f.schema,
      name: f.name,
      args,
      requiredCount: args.filter((a) => !a.hasDefault).length,
      returnsSet: f.returnsSet,
      returnKind: f.returnType.name === 'void' && f.returnType.schema === 'pg_catalog' ? 'void' : composite ? 'composite' : 'scalar',
      returnType: typeRef(f.returnType),
      returnRelation: relation,
      volatility: f.volatility === 'i' ? 'immutable' : f.volatility === 's' ? 'stable' : 'volatile',
      callable,
      executable: f.executable,
      ...(f.description !== null && f.description !== undefined && { description: f.description }),
    };
    const key = `${f.schema}\u0000${f.name}`;
    (functions.get(key) ?? functions.set(key, []).get(key)!).push(fn);
  }
  for (const overloads of functions.values()) overloads.sort(compareRoutines);
  return functions;
}

/** Type names a cast (`::type`) may use, resolved along the search path. */
function castTypes(catalog: Catalog, schemas: string[]): Map<string, TypeRef> {
  const typesByName = new Map<string, TypeRef>();
  const searchOrder = ['pg_catalog', ...schemas, 'extensions', 'public'];
  const ranked = [...catalog.types].sort((a, b) => searchOrder.indexOf(a.schema) - searchOrder.indexOf(b.schema));
  for (const t of ranked) if (!typesByName.has(t.name)) typesByName.set(t.name, { schema: t.schema, name: t.name, kind: t.kind });
  return typesByName;
}

export function buildRestModel(catalog: Catalog, schemas: string[]): RestModel {
  const relations = relationsOf(catalog);
  const { bySchema } = relations;
  const exposures = viewExposures(catalog, relations.byOid);
  inheritViewKeys(catalog, relations, exposures);
  const rels = new Map<Relation, Relationship[]>();
  const add: AddRelationship = (r) => (rels.get(r.from) ?? rels.set(r.from, []).get(r.from)!).push(r);
  manyToManyRelationships(foreignKeyRelationships(catalog, relations, exposures, add), add);
  computedRelationships(catalog, relations, rels, add);
  const functions = functionsOf(catalog, relations);
  const typesByName = castTypes(catalog, schemas);

  return {
    schemas,
    relation: (schema, name) => bySchema.get(schema)?.get(name),
    relations: (schema) => [...(bySchema.get(schema)?.values() ?? [])],
    relationshipsFrom: (rel) => rels.get(rel) ?? [],
    functions: (schema, name) => functions.get(`${schema}\u0000${name}`) ?? [],
    allFunctions: (schema) => [...functions.values()].flat().filter((f) => f.schema === schema),
    castType(name) {
      const normalized = name.trim().toLowerCase().replace(/\s+/g, ' ');
      return typesByName.get(TYPE_ALIASES[normalized] ?? normalized) ?? typesByName.get(name.trim());
    },
  };
}
