/**
 * The REST engine's view of the database: relations with their columns and keys, the
 * relationships PostgREST can embed (many-to-one, one-to-many, one-to-one, many-to-many through
 * a junction), and callable functions. Built from the shared introspection snapshot by
 * rest/model-build.ts; every identifier the SQL builder emits comes from here.
 */

/** A type as `"schema"."internal_name"`, always safe to emit quoted (e.g. pg_catalog._int4). */
export interface TypeRef {
  schema: string;
  name: string;
  /** Element type for arrays. */
  element?: TypeRef;
  /** b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  kind: string;
  /** The name Postgres shows (format_type): `integer` for int4. */
  display?: string;
}

export interface Column {
  name: string;
  type: TypeRef;
  nullable: boolean;
  /** Default expression as Postgres prints it (pg_get_expr), if any. */
  defaultExpr?: string;
  /** GENERATED ALWAYS (identity or stored generated): never written by the API. */
  generatedAlways: boolean;
}

export interface Relation {
  schema: string;
  name: string;
  kind: 'table' | 'view' | 'materialized_view' | 'foreign_table' | 'partitioned_table';
  columns: Column[];
  columnsByName: Map<string, Column>;
  /** Primary key columns (for views: inherited from the base table when traceable). */
  pk: string[];
  insertable: boolean;
  updatable: boolean;
  deletable: boolean;
}

export type Cardinality = 'many-to-one' | 'one-to-many' | 'one-to-one' | 'many-to-many';

export interface Relationship {
  cardinality: Cardinality;
  from: Relation;
  to: Relation;
  /** FK constraint name (for m2m: the constraint from the junction to `from`). */
  constraint: string;
  /** Join columns: from.fromColumns[i] = to.toColumns[i] (not used for m2m). */
  fromColumns: string[];
  toColumns: string[];
  /** Set on the relationship seen from the referenced side (one-to-many, or one-to-one inverse). */
  inverse?: true;
  /**
   * A computed relationship: `function(from_row) returns [setof] to`, embedded as
   * `select=alias:function(*)`; to-one when it returns a single row (not SETOF, or ROWS 1).
   * fromColumns/toColumns are empty (the function does the join) and `cardinality` is
   * 'one-to-many' whatever `toOne` says.
   */
  computed?: { schema: string; name: string; toOne: boolean };
  junction?: {
    relation: Relation;
    /** Constraint junction → from, and its column pairs (junction col = from col). */
    fromConstraint: string;
    junctionFromColumns: string[];
    fromColumns: string[];
    /** Constraint junction → to, and its column pairs (junction col = to col). */
    toConstraint: string;
    junctionToColumns: string[];
    toColumns: string[];
  };
}

export interface FunctionArg {
  name: string;
  type: TypeRef;
  hasDefault: boolean;
  variadic: boolean;
}

export interface RestFunction {
  schema: string;
  name: string;
  args: FunctionArg[];
  /** Number of arguments without default (they come first). */
  requiredCount: number;
  returnsSet: boolean;
  /** scalar, composite (row/record/TABLE/OUT params), or void. */
  returnKind: 'scalar' | 'composite' | 'void';
  returnType: TypeRef;
  /** When the function returns rows of a relation of an exposed schema: embedding works on it. */
  returnRelation?: Relation;
  volatility: 'immutable' | 'stable' | 'volatile';
  /**
   * Whether /rpc can call it, as PostgREST's schema cache decides: every argument named, or
   * exactly one argument, unnamed, of type json, jsonb, text, xml or bytea (it takes the whole
   * body). Other functions serve only as computed columns (`f(table_row)`).
   */
  callable: boolean;
  /** Whether an API role (anon, authenticated, service_role) may execute it (`gen types` lists only those). */
  executable: boolean;
  /** COMMENT ON FUNCTION (orders same-length overloads in PGRST203, as PostgREST). */
  description?: string;
}

export interface RestModel {
  schemas: string[];
  relation(schema: string, name: string): Relation | undefined;
  relations(schema: string): Relation[];
  /** Relationships whose `from` is the given relation. */
  relationshipsFrom(rel: Relation): Relationship[];
  functions(schema: string, name: string): RestFunction[];
  allFunctions(schema: string): RestFunction[];
  /** Whether a type name (as written in a `::cast`) exists, and its safe reference. */
  castType(name: string): TypeRef | undefined;
}
